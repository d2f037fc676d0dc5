"""Prototxt generation: the MCL nets (caffe.NetSpec), the solver profiles and solvers, each stage's files and
the committed copies under prototxt/ and solvers/. Caffe loads on first use, not on import."""
