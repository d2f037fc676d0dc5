#!/usr/bin/env python
"""Where the landmarks sit in the AFLW protocol's face-detector boxes, per set (see --help)."""

import sys


from mcl_caffe.evaluation.box_offsets import main

if __name__ == "__main__":
    sys.exit(main())
