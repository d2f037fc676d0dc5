"""Where a training run keeps its files: runs/<dataset>-<profile>/<stage>/ and its data under data/."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

STAGES = ("stage1", "stage2", "stage3", "stage4", "assemble")
STAGE_TITLES = {
    "stage1": "pre-training, u_j = 1 (BM)",
    "stage2": "weighting fine-tuning with the first six convolutions fixed (Eq. 5)",
    "stage3": "weighting fine-tuning of all layers (Eq. 5) (WM)",
    "stage4": "multi-center fine-tuning of each cluster's shape prediction layer (Eqs. 6-9)",
    "assemble": "model assembling (Eq. 2) (AM)",
}


@dataclass(frozen=True)
class RunLayout:
    dataset: str
    profile: str
    runs_root: Path = Path("runs")
    data_dir: Path | None = None  # the folder with train.txt / val.txt / test.txt

    @property
    def root(self) -> Path:
        return Path(self.runs_root) / ("%s-%s" % (self.dataset, self.profile))

    @property
    def data(self) -> Path:
        if self.data_dir:
            return Path(self.data_dir)
        # as the Makefile lays it out: data/<dataset>, the smoke profile's small set in data/smoke/<dataset>
        root = Path("data") / "smoke" if self.profile == "smoke" else Path("data")
        return root / self.dataset

    def list_file(self, split: str) -> Path:
        return (self.data / ("%s.txt" % split)).resolve()

    def stage_dir(self, stage: str) -> Path:
        return self.root / stage

    def cluster_dir(self, index: int, name: str) -> Path:
        return self.stage_dir("stage4") / ("cluster%d-%s" % (index + 1, name.replace(" ", "_")))

    def final_weights(self, stage: str) -> Path:
        return self.stage_dir(stage) / "final.caffemodel"

    def val_errors(self, stage: str) -> Path:
        return self.stage_dir(stage) / "val_errors.json"


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def write_json(path: Path, obj) -> None:
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
