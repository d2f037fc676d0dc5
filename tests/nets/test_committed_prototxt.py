"""The committed prototxt/ and solvers/ are exactly what the generators write, and they load in Caffe."""

import pytest

from mcl_caffe.caffe_import import load_caffe
from mcl_caffe.nets.committed_files import generate
from conftest import ROOT

FILES = generate()


def test_committed_files_match_generators():
    on_disk = {str(p.relative_to(ROOT)) for sub in ("prototxt",
                                                    "solvers") for p in (ROOT / sub).rglob("*.prototxt")}
    assert on_disk == set(FILES), "run `make prototxt` and commit: missing %s, stale %s" % (
        sorted(set(FILES) - on_disk)[:5], sorted(on_disk - set(FILES))[:5])
    for rel, text in FILES.items():
        assert (ROOT / rel).read_text() == text, "%s differs from its generator; run `make prototxt`" % rel


def test_every_pattern_has_the_full_stage_set():
    for dataset, clusters in (("aflw", 4), ("cofw", 5), ("300w", 7)):
        nets = [f for f in FILES if f.startswith("prototxt/%s/" % dataset)]
        assert len([f for f in nets if "stage4_cluster" in f and f.endswith("_train.prototxt")]) == clusters
        for profile in ("paper", "long", "cpu", "quick", "smoke"):
            solvers = [f for f in FILES if f.startswith("solvers/%s/%s/" % (dataset, profile))]
            assert len(solvers) == 3 + clusters


@pytest.mark.parametrize("dataset,n_out", [("aflw", 10), ("cofw", 58), ("300w", 136)])
def test_committed_deploy_nets_load_in_caffe(dataset, n_out):
    caffe = load_caffe()
    for stem in ("stage1", "stage3", "assemble"):
        net = caffe.Net(str(ROOT / "prototxt" / dataset / ("%s_deploy.prototxt" % stem)), caffe.TEST)
        assert net.blobs["fc"].data.shape == (1, n_out)
        assert net.blobs["pool3"].data.shape[2:] == (7, 7)


def test_paper_solver_has_the_papers_settings():
    load_caffe()
    from caffe.proto import caffe_pb2
    from google.protobuf import text_format
    pre = caffe_pb2.SolverParameter()
    text_format.Merge(FILES["solvers/aflw/paper/stage1.prototxt"], pre)
    fine = caffe_pb2.SolverParameter()
    text_format.Merge(FILES["solvers/aflw/paper/stage3.prototxt"], fine)
    assert (pre.base_lr, pre.max_iter, pre.stepsize, pre.gamma) == pytest.approx((0.02, 180000, 30000, 0.3))
    assert (fine.base_lr, fine.max_iter, fine.stepsize) == pytest.approx((0.001, 60000, 30000))
    assert (pre.momentum, pre.weight_decay, pre.type, pre.lr_policy) == (pytest.approx(0.9),
                                                                         pytest.approx(0.0005),
                                                                         "SGD", "step")
    assert "batch_size: 64" in FILES["prototxt/aflw/stage1_train.prototxt"]


def _solver(rel):
    load_caffe()
    from caffe.proto import caffe_pb2
    from google.protobuf import text_format
    s = caffe_pb2.SolverParameter()
    text_format.Merge(FILES[rel], s)
    return s


def test_long_solver_is_the_papers_pretraining_to_90000_and_cpus_fine_tuning():
    """`long`'s stage 1 takes the paper's steps up to its third decay (the rate of every iteration is the
    paper's, compared exactly: both come from the same float32 base_lr and gamma); stages 2-4 are `cpu`'s."""
    from mcl_caffe.nets.solvergen import learning_rate
    for dataset in ("aflw", "300w"):
        long1, paper1 = (_solver("solvers/%s/%s/stage1.prototxt" % (dataset, p)) for p in ("long", "paper"))
        assert (long1.max_iter, list(long1.stepvalue), long1.lr_policy) == (90000, [30000, 60000, 90000],
                                                                            "multistep")
        for field in ("base_lr", "gamma", "momentum", "weight_decay", "type", "random_seed", "train_net"):
            assert getattr(long1, field) == getattr(paper1, field), field
        assert all(learning_rate(long1, i) == learning_rate(paper1, i) for i in range(90001))
        assert learning_rate(long1, 89999) == pytest.approx(0.02 * 0.3 ** 2, rel=1e-7)
        for stem in ("stage2", "stage3", "stage4_cluster1-left_eye"):
            a, b = (_solver("solvers/%s/%s/%s.prototxt" % (dataset, p, stem)) for p in ("long", "cpu"))
            b.snapshot_prefix = a.snapshot_prefix
            assert a == b, stem
