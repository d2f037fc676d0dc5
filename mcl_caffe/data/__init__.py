"""Official dataset files -> Caffe HDF5 (`make data`): the loaders (`datasets`), face checks, augmentation,
splits, the HDF5 writer and reader, the extra test sets, and faces for evaluation and calibration."""
