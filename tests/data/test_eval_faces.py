"""Where the shared data is looked for: ../shared/data beside the clone, or $MCL_SHARED_DATA when set."""
import os
import subprocess
import sys

from conftest import ROOT

CODE = "from mcl_caffe.data.eval_faces import SHARED_DATA, load_faces; print(SHARED_DATA); " \
       "print(len(load_faces('aflw', 'test')[0]))"


def _run(env):
    res = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True)
    return res.returncode, res.stdout.split(), res.stderr


def test_shared_data_default_and_override(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MCL_SHARED_DATA"}
    code, out, err = _run(env)
    assert code == 0, err[-2000:]
    assert out == [str(ROOT.parent / "shared" / "data"), "2995"]
    # another place with the same layout (here a link to the real one) is read through the variable
    (tmp_path / "elsewhere").symlink_to(ROOT.parent / "shared" / "data")
    code, out, err = _run(dict(env, MCL_SHARED_DATA=str(tmp_path / "elsewhere")))
    assert code == 0 and out == [str(tmp_path / "elsewhere"), "2995"], err[-2000:]
    code, out, err = _run(dict(env, MCL_SHARED_DATA=str(tmp_path / "nowhere")))
    assert code != 0 and "nowhere" in err  # a wrong place fails, naming it
