"""Training: the stage runner (one process per stage of Algorithm 1, `python -m mcl_caffe.train.runner`),
the guarded solve loop, forward passes, the mean-shape initialisation and the schedule sweep."""
