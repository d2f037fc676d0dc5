"""REPORT.md of a trained run (`make report`): the sections, facts about the run, the plots, the paper's
figures."""
