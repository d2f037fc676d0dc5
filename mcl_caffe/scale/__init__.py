"""mcl-align-batch: mcl-align on Ray Data with Parquet output (pip install mcl-caffe[scale])."""
