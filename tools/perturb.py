#!/usr/bin/env python
"""Fig. 7: retrain WM with perturbed landmark weights for each delta (see --help; `make perturb`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcl_caffe.evaluation.perturb import main  # noqa: E402

if __name__ == "__main__":
    main()
