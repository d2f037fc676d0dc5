"""The nets and solvers committed under prototxt/ and solvers/, for Caffe users to read and diff.

They are the runner's texts with repository-relative paths (run Caffe from the repository root):
data from data/<dataset>/, snapshots into runs/<dataset>-<profile>/<stage>/snapshots/. The landmark weights
of stages 2-4 depend on measured validation errors (Eqs. 5 and 9); the committed copies evaluate those
equations for equal errors (so Eq. 5 gives u_j = 1 and Eq. 9 reduces to Eq. 8), and say so in their header.
The runner writes the measured ones into runs/<dataset>-<profile>/<stage>/.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mcl_caffe.nets import solvergen
from mcl_caffe.core.landmarks import DATASETS, get_scheme
from mcl_caffe.nets.stage_files import assembled_deploy_text, stage_texts
from mcl_caffe.core.weighting import error_proportional_weights, multi_center_weights, uniform_weights

EQUAL_ERRORS_NOTE = ("Committed copy: u_j are Eqs. 5/9 evaluated for EQUAL per-landmark validation errors; "
                     "the runner writes the ones from measured errors into "
                     "runs/<dataset>-<profile>/<stage>/.")


def _stage_runs(dataset: str):
    """(file stem, stage, weights, train source, val source) of every training run of Algorithm 1."""
    scheme = get_scheme(dataset)
    n = scheme.n_points
    equal = np.ones(n)
    data = "data/%s" % dataset
    runs = [("stage1", "stage1", uniform_weights(n)),
            ("stage2", "stage2", error_proportional_weights(equal)),
            ("stage3", "stage3", error_proportional_weights(equal))]
    out = [(stem, stage, w, "%s/train.txt" % data, "%s/val.txt" % data) for stem, stage, w in runs]
    features = "runs/%s-paper/stage4/features" % dataset
    for i, (name, idx) in enumerate(scheme.clusters):
        out.append(("stage4_cluster%d-%s" % (i + 1, name), "stage4", multi_center_weights(equal, idx),
                    "%s/train.txt" % features, "%s/val.txt" % features))
    return scheme, out


def generate() -> dict[str, str]:
    """{repository-relative path: text} of every committed net and solver."""
    files: dict[str, str] = {}
    for dataset in DATASETS:
        scheme, runs = _stage_runs(dataset)
        for stem, stage, weights, train_src, val_src in runs:
            net_path = "prototxt/%s/%s_train.prototxt" % (dataset, stem)
            for profile_name, profile in solvergen.PROFILES.items():
                texts = stage_texts(stage, scheme, profile, weights, train_src, val_src, net_path,
                                    "runs/%s-%s/%s/snapshots/%s" % (dataset, profile_name, stem, stage),
                                    extra_header=EQUAL_ERRORS_NOTE if stage != "stage1" else "")
                files["solvers/%s/%s/%s.prototxt" % (dataset, profile_name, stem)] = texts["solver"]
            for role in ("train", "val"):
                files["prototxt/%s/%s_%s.prototxt" % (dataset, stem, role)] = texts[role]
            if stage != "stage4":
                files["prototxt/%s/%s_deploy.prototxt" % (dataset, stem)] = texts["deploy"]
        files["prototxt/%s/assemble_deploy.prototxt" % dataset] = assembled_deploy_text(scheme)
    return files


def write(root: Path) -> list[Path]:
    written = []
    for rel, text in generate().items():
        path = Path(root) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
