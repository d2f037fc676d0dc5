"""The data study (mcl_caffe/train/data_study.py): its declared score, the rule that picks a winner, and a
real (tiny) run on the smoke data."""
import csv
import json

import numpy as np
import pytest

from mcl_caffe.train import data_study as S


def test_every_candidate_runs_once_and_names_what_it_varies():
    names = [n for lane in S.LANES for n in lane]
    assert sorted(names) == sorted(c.name for c in S.CANDIDATES)
    for ds in ("aflw", "300w"):
        assert sum(c.incumbent for c in S.CANDIDATES if c.dataset == ds) == 1
    for c in S.CANDIDATES:
        # options stated in full, so a candidate means the same after make data's defaults change
        assert "--rotations" in c.data_args and "--max-angle" in c.data_args
    assert "2026-12-06" in S.RULE  # the date the rule was declared, before any candidate ran


def _errors(rng, n):
    return {"val": rng.uniform(0.03, 0.1, n), "val_roll20": rng.uniform(0.03, 0.1, 2 * n),
            "val_roll35": rng.uniform(0.05, 0.2, 2 * n), "val_detector": rng.uniform(0.03, 0.1, n - 1)}


def test_the_score_is_the_mean_of_the_per_face_scores():
    rng = np.random.default_rng(0)
    e = _errors(rng, 50)
    means = {k: v.mean() for k, v in e.items()}
    assert S.score("300w", means) == pytest.approx(0.5 * (means["val"] + 0.5 * (means["val_roll20"]
                                                                                + means["val_roll35"])))
    assert S.face_scores("300w", e).mean() == pytest.approx(S.score("300w", means), rel=1e-12)
    assert S.score("aflw", means) == means["val"]
    assert S.face_scores("aflw", e).mean() == pytest.approx(means["val"], rel=1e-12)
    with pytest.raises(ValueError, match="rolled"):
        S.score("300w", {"val": 0.05})


def test_paired_interval():
    a = np.linspace(0.04, 0.08, 200)
    assert S.paired_interval(a - 0.01, a) == pytest.approx((-0.01, -0.01))
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.01, 200)
    lo, hi = S.paired_interval(a + noise - noise.mean(), a)
    # a zero mean difference: the interval holds 0, and its half-width is about 1.96 sd / sqrt(n)
    assert lo < 0 < hi and (hi - lo) / 2 == pytest.approx(1.96 * noise.std() / np.sqrt(200), rel=0.2)


def _fake_candidate(study, name, errors, iters):
    d = study.cdir(name)
    d.mkdir(parents=True)
    c = S.BY_NAME[name]
    with (d / "curve.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["iter", "lr", "elapsed_s", "score", *errors])
        for it in iters:
            means = {k: v.mean() for k, v in errors.items()}
            w.writerow([it, 0.02, it * 0.5, S.score(c.dataset, means), *means.values()])
    if iters[-1] == study.horizon:
        np.savez(d / ("errors_%d.npz" % study.horizon), **errors)


def test_the_winner_follows_the_declared_rule(tmp_path):
    study = S.Study(tmp_path, horizon=8, segment=4)
    rng = np.random.default_rng(2)
    base = _errors(rng, 300)
    shift = lambda e, x: {k: v + x for k, v in e.items()}  # noqa: E731
    jitter = lambda e: {k: v + rng.normal(0, 0.01, v.shape) for k, v in e.items()}  # noqa: E731
    # 300-W: r30 clearly better (0.5 points on every face), r45 a hair better but within the noise
    _fake_candidate(study, "300w-r15", base, [4, 8])
    _fake_candidate(study, "300w-r30", shift(base, -0.005), [4, 8])
    _fake_candidate(study, "300w-r45", jitter(shift(base, -0.0002)), [4, 8])
    _fake_candidate(study, "300w-r15x60", shift(base, 0.001), [4, 8])
    # AFLW: the challenger is only within the noise better: the incumbent stays
    a = {"val": rng.uniform(0.03, 0.1, 300)}
    _fake_candidate(study, "aflw-landmarks", a, [4, 8])
    _fake_candidate(study, "aflw-detector", jitter(shift(a, -0.0003)), [4, 8])
    summary = S.summarize(study)
    assert summary["300w"]["winner"] == "300w-r30"
    assert summary["aflw"]["winner"] == "aflw-landmarks"
    rows = {r["name"]: r for r in summary["300w"]["rows"]}
    assert rows["300w-r30"]["delta"] == pytest.approx(-0.005)
    assert rows["300w-r30"]["vs_incumbent"] == pytest.approx((-0.005, -0.005))
    lo, hi = rows["300w-r45"]["vs_incumbent"]
    assert lo < 0 < hi
    # the report states the rule and the winners, with a plot per dataset
    S.write_report(study, tmp_path / "report", "make data-study")
    text = (tmp_path / "report" / "STUDY.md").read_text()
    assert S.RULE in text and "Winner under the rule: **300w-r30**" in text
    assert (tmp_path / "report" / "300w.png").stat().st_size > 10000


def test_no_winner_while_a_candidate_is_unfinished(tmp_path):
    study = S.Study(tmp_path, horizon=8, segment=4)
    rng = np.random.default_rng(3)
    a = {"val": rng.uniform(0.03, 0.1, 100)}
    _fake_candidate(study, "aflw-landmarks", a, [4, 8])
    _fake_candidate(study, "aflw-detector", {"val": a["val"] - 0.01}, [4])
    s = S.summarize(study)["aflw"]
    assert s["winner"] is None and not s["complete"]
    text = S.markdown(S.summarize(study), study, "x")
    assert "Winner: not decided" in text
    # 300-W has no scored candidate: its table has no empty column, and every row as many cells as its header
    sections = [x for x in text.split("\n## ") if x.startswith(("300-W", "AFLW"))]
    assert len(sections) == 2
    for section in sections:
        table = [ln for ln in section.splitlines() if ln.startswith("|")]
        assert "|  |" not in table[0] and all(ln.count("|") == table[0].count("|") for ln in table), table


@pytest.mark.slow
def test_a_candidate_trains_scores_every_view_and_resumes(smoke_run, tmp_path):
    """aflw-landmarks for 8 iterations in segments of 4, on the smoke run's real patches and views."""
    from mcl_caffe.caffe_import import load_caffe
    load_caffe(1)
    data = S.data_dir(tmp_path, S.BY_NAME["aflw-landmarks"])
    data.parent.mkdir(parents=True)
    data.symlink_to(smoke_run["data"])
    study = S.Study(tmp_path, horizon=8, segment=4)
    study.run("aflw-landmarks")
    curve = study.curve("aflw-landmarks")
    assert [r["iter"] for r in curve] == [4, 8]
    views = sorted(S.view_lists(data))
    assert views == ["val", "val_gt", "val_roll20", "val_roll35"]
    for r in curve:
        assert all(0 < r[v] < 1 for v in views) and r["score"] == r["val"]
    # x0.3 at H/2 = 4 and 3H/4 = 6: a segment's rate is that of its last iteration (3, then 7)
    assert [r["lr"] for r in curve] == pytest.approx([0.02, 0.0018])
    err = study.final_errors("aflw-landmarks")
    # curve.csv keeps 6 decimals: equal to within half of the last one
    assert err["val"].mean() == pytest.approx(curve[-1]["val"], abs=5e-7)
    assert len(err["val_roll20"]) == 2 * len(err["val"])
    study.run("aflw-landmarks")  # finished: trains and scores nothing more
    assert study.curve("aflw-landmarks") == curve


def _make_data_options(parser, *make_args):
    """make_data's parsed options for `make data` with these make arguments (make -n: nothing runs)."""
    import shlex
    import subprocess

    from conftest import ROOT
    cmd = subprocess.run(["make", "-n", "--no-print-directory", "data", *make_args], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.splitlines()[-1]
    argv = shlex.split(cmd)
    return vars(parser.parse_args(argv[argv.index("tools/make_data.py") + 1:]))


def test_make_data_defaults_are_the_studys_winners():
    """`make data` without options makes the winning candidate's data (reports/data-study/study.json), as the
    study made it (`make data ... ARGS="<candidate's options>"`)."""
    import importlib.util

    from conftest import ROOT
    spec = importlib.util.spec_from_file_location("make_data", ROOT / "tools" / "make_data.py")
    make_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_data)
    parser = make_data.build_parser()
    summary = json.loads((ROOT / "reports" / "data-study" / "study.json").read_text())["summary"]
    for ds in ("aflw", "300w"):
        assert summary[ds]["complete"], ds
        winner = S.BY_NAME[summary[ds]["winner"]]
        default = _make_data_options(parser, "DATASET=" + ds)
        as_studied = _make_data_options(parser, "DATASET=" + ds, "ARGS=" + " ".join(winner.data_args))
        assert default == as_studied, (ds, winner.name)
        # and the study's incumbent is not what make data makes (the winners replaced both)
        inc = next(c for c in S.CANDIDATES if c.dataset == ds and c.incumbent)
        assert _make_data_options(parser, "DATASET=" + ds, "ARGS=" + " ".join(inc.data_args)) != default, ds
