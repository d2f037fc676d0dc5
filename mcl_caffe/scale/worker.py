"""The Ray actor of mcl-align-batch: one FaceAligner (one onnxruntime session, one detector) per actor,
decode -> detect -> landmarks for a batch of image names, rows out as a pyarrow Table.

The actor builds its FaceAligner from the model name (a shipped model resolved inside the installed
package on the worker's node, or a path the workers can read): the driver never ships the model through
the object store, and every worker runs exactly the model files mcl-align would.
"""

from __future__ import annotations

from mcl_caffe.infer.images import DEFAULT_MAX_PIXELS


def align_one(fa, name: str, max_pixels: int = DEFAULT_MAX_PIXELS):
    """One image name -> ImageResult, as mcl-align's process() (never raises for a bad image)."""
    from mcl_caffe.infer.aligner import FaceError
    from mcl_caffe.infer.images import ImageReadError, decode_photo
    from mcl_caffe.infer.results import ImageResult
    from mcl_caffe.scale.sources import read_bytes

    r = ImageResult(name)
    try:
        photo = decode_photo(read_bytes(name), name, max_pixels)
    except ImageReadError as exc:
        r.errors.append(str(exc))
        return r
    except Exception as exc:  # any other failure of one image is that image's error, never the job's
        r.errors.append("%s: %s: %s" % (name, type(exc).__name__, exc))
        return r
    r.width, r.height, r.orientation = photo.width, photo.height, photo.orientation
    try:
        faces, crops = fa.run(photo.image)
    except FaceError as exc:
        r.errors.append(str(exc))
        return r
    r.faces = [
        {"box": f.box, "box_source": "detector", "score": f.score, "crop": c, "points": f.points}
        for f, c in zip(faces, crops)
    ]
    if not faces:
        r.warnings.append("no face found")
    return r


class AlignActor:
    """Callable class for ray.data.Dataset.map_batches: a batch {"image": [...]} -> rows (pyarrow Table)."""

    def __init__(self, aligner_kwargs: dict, max_pixels: int = DEFAULT_MAX_PIXELS):
        from mcl_caffe.infer.api import FaceAligner

        self.fa = FaceAligner(**aligner_kwargs)
        self.max_pixels = int(max_pixels)

    def __call__(self, batch):
        from mcl_caffe.scale.shards import to_table

        names = batch["image"]
        names = names.to_pylist() if hasattr(names, "to_pylist") else list(names)
        return to_table([align_one(self.fa, str(n), self.max_pixels) for n in names])
