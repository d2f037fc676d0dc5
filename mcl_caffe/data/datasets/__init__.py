"""Loaders for the three benchmark formats. Each returns a LoadResult (faces, problems)."""

from mcl_caffe.core.box_file import BadSample, read_box_file
from mcl_caffe.data.datasets.authors_points import AuthorsFace, match_faces, read_authors_points
from mcl_caffe.data.datasets.box_file import attach_boxes, attach_list_boxes
from mcl_caffe.data.datasets.cofw import load_cofw, read_cofw_mat
from mcl_caffe.data.datasets.mtfl import load_mtfl_list
from mcl_caffe.data.datasets.sample import Face, LoadResult, check_face
from mcl_caffe.data.datasets.sun_list import SunEntry, read_sun_list
from mcl_caffe.data.datasets.w300_boxes import attach_300w_boxes, box_file_for, read_300w_box_file
from mcl_caffe.data.datasets.w300 import (W300_DEFAULT_SUBSETS, W300_TEST_SUBSETS, W300_TRAIN_SUBSETS,
                                          find_subsets,
                                          load_300w, read_pts)

__all__ = [
    "BadSample",
    "Face",
    "LoadResult",
    "check_face",
    "attach_boxes",
    "attach_list_boxes",
    "read_box_file",
    "load_cofw",
    "read_cofw_mat",
    "load_mtfl_list",
    "load_300w",
    "read_pts",
    "find_subsets",
    "W300_TRAIN_SUBSETS",
    "W300_DEFAULT_SUBSETS",
    "read_300w_box_file",
    "attach_300w_boxes",
    "box_file_for",
    "read_sun_list",
    "SunEntry",
    "W300_TEST_SUBSETS",
    "AuthorsFace",
    "read_authors_points",
    "match_faces",
]
