#!/usr/bin/env python
"""Model-free check of eye labelling conventions per split and image source (see --help)."""

import sys


from mcl_caffe.evaluation.eye_label_offset import main

if __name__ == "__main__":
    sys.exit(main())
