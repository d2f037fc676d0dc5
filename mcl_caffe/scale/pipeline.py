"""mcl-align-batch's pipeline on Ray Data: image names -> actor pool (decode, detect, landmarks) -> Parquet
shards written by the driver as the results stream in.

Streaming: the names go in as a dataset of strings; Ray Data's streaming executor keeps only a bounded
number of blocks in flight, and the driver turns each output block into a shard and drops it, so the
driver's memory does not grow with the number of images (tests/scale/test_streaming.py measures it).
Resume: images whose rows are all in OUT's shards are left out of the dataset before it starts.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from mcl_caffe.infer.images import DEFAULT_MAX_PIXELS


@dataclass
class Summary:
    images: int = 0  # listed under SRC
    skipped: int = 0  # already in OUT (resume)
    processed: int = 0
    ok: int = 0
    no_face: int = 0
    errors: int = 0
    faces: int = 0
    seconds: float = 0.0
    shards: list = field(default_factory=list)  # shards holding errors
    error_examples: list = field(default_factory=list)  # (image, message), the first few

    @property
    def images_per_s(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0


def connect(address: str | None, num_cpus: int | None = None) -> None:
    """ray.init for --address: None/'local' starts a local cluster (unless this process already has one),
    'auto' joins the cluster started on this node with `ray start`, 'ray://host:port' a remote one."""
    import ray

    if ray.is_initialized():
        return
    if address in (None, "local"):
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)


def run_batch(
    src: str,
    out: str,
    aligner_kwargs: dict,
    actors: int = 1,
    batch_size: int = 32,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: bool = True,
    on_shard=None,
    names: list | None = None,
) -> Summary:
    """Align every image of SRC into OUT's shards (Ray must be connected).  `on_shard(summary)` is called
    after each shard is written (tests use it); `names` replaces the listing of SRC."""
    import ray
    from tqdm import tqdm

    from mcl_caffe import __version__
    from mcl_caffe.infer.api import FaceAligner
    from mcl_caffe.infer.results import json_head
    from mcl_caffe.scale import shards as S
    from mcl_caffe.scale.sources import list_images
    from mcl_caffe.scale.worker import AlignActor

    # the head names the model as the workers resolve it; the driver loads it once to check it
    probe = FaceAligner(**dict(aligner_kwargs, detector=None))
    head = json_head(__version__, probe.model_path, probe.scheme, probe.n_points)
    del probe
    names = list_images(src) if names is None else names
    done, _ = S.prepare_out(out, head)
    todo = [n for n in names if n not in done]
    summary = Summary(images=len(names), skipped=len(names) - len(todo))
    t0 = time.perf_counter()
    if todo:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.execution_options.preserve_order = False
        ds = ray.data.from_items(
            [{"image": n} for n in todo], override_num_blocks=max(1, len(todo) // batch_size)
        )
        ds = ds.map_batches(
            AlignActor,
            fn_constructor_kwargs={"aligner_kwargs": aligner_kwargs, "max_pixels": max_pixels},
            batch_size=batch_size,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=max(1, int(aligner_kwargs.get("threads") or 1)),
        )
        bar = tqdm(total=len(todo), unit="img", desc="mcl-align-batch", disable=not progress, file=sys.stdout)
        for table in ds.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=1):
            if table.num_rows == 0:
                continue
            path = S.write_shard(out, table)
            _count(summary, table, path)
            bar.update(int(_n_images(table)))
            if on_shard is not None:
                on_shard(summary)
        bar.close()
    summary.seconds = time.perf_counter() - t0
    return summary


def _n_images(table) -> int:
    import pyarrow.compute as pc

    return len(pc.unique(table.column("image")))


def _count(summary: Summary, table, path) -> None:
    import pyarrow.compute as pc

    first = pc.equal(pc.fill_null(table.column("face"), 0), 0)
    per_image = table.filter(first)
    st = per_image.column("status").to_pylist()
    summary.processed += len(st)
    summary.ok += st.count("ok")
    summary.no_face += st.count("no_face")
    n_err = st.count("error")
    summary.errors += n_err
    summary.faces += table.num_rows - table.column("face").null_count
    if n_err:
        summary.shards.append(str(path))
        if len(summary.error_examples) < 5:
            errs = per_image.filter(pc.equal(per_image.column("status"), "error"))
            for img, e in zip(errs.column("image").to_pylist(), errs.column("errors").to_pylist()):
                if len(summary.error_examples) < 5:
                    summary.error_examples.append((img, "; ".join(e)))
