#!/usr/bin/env python
"""The reproduction report of one training run (see --help; `make report DATASET=... PROFILE=...`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcl_caffe.report.report import main  # noqa: E402

if __name__ == "__main__":
    main()
