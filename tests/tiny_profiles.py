"""Test-only profiles: the `paper` profile scaled down and the `long` profile cut from it the same way
`long` is cut from `paper` (solvergen.truncated_pretraining), on a tiny schedule.

The stage runner must run in a fresh process per run: Caffe's HDF5 layer shuffles with the C library's
rand(), which no solver seed resets, so two solvers made one after the other in one process read their
batches in different orders. `python tests/tiny_profiles.py STAGE ARGS...` registers the profiles and runs
mcl_caffe.train.runner's main with ARGS, the real runner in its own process.
"""
import dataclasses
import sys

from mcl_caffe.nets import solvergen as S

DIVISOR = 10000  # the paper's lr step of 30,000 iterations -> 3; its 180,000 of pre-training -> 18
# batch 16 instead of 64: a quarter of the time per iteration; the mechanism under test does not depend on it
PAPER = dataclasses.replace(S._scaled("tiny-paper", DIVISOR, snapshot=2), keep_every=3, batch_size=16)
LONG = S.truncated_pretraining("tiny-long", PAPER, S.PROFILES["smoke"], S.LONG_DECAYS, snapshot=2,
                               keep_every=3)
# decays at 4 instead of 3: the paper's state at iteration 9 is not this profile's
OTHER = dataclasses.replace(PAPER, name="tiny-other", stepsize=4)
TINY = {p.name: p for p in (PAPER, LONG, OTHER)}


def register():
    S.PROFILES.update(TINY)


if __name__ == "__main__":
    register()
    from mcl_caffe.train.runner import main
    main(sys.argv[1:])
