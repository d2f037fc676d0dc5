#!/usr/bin/env python
"""Model-free check of eye labelling conventions per split and image source (see --help)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcl_caffe.evaluation.eye_label_offset import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
