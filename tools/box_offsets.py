#!/usr/bin/env python
"""Where the landmarks sit in the AFLW protocol's face-detector boxes, per set (see --help)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcl_caffe.evaluation.box_offsets import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
