"""Photos for testing and benchmarking mcl-align, made from the shared 300-W faces (never committed: the
tests and `make bench-pipeline` make them in a temporary folder; `python -m mcl_caffe.bench.photos DIR`
writes them for looking at).

Each face is an LFPW test face (not a training face) taken from its image with its 68 annotated points,
scaled so that its landmark box's larger side is the wanted size, rotated, and pasted with a soft elliptic
edge onto a smooth random background; the points go through the same affine map, so every photo comes with
its ground truth (photos.json).  The set covers what the issue on real photos lists:

| name | what |
| --- | --- |
| portrait_1080 | 1080x1080 close-up, one face of 800 px |
| fullframe_1080 | 1080x1080, the face's landmark box spans the whole frame |
| canvas_face800/1000/1400 | 2000x2000, one face of 800, 1000 or 1400 px |
| sizes | 1800x1300, seven faces of 30, 45, 70, 110, 170, 260 and 400 px |
| twelve_mp | 4000x3000 (12 megapixels), faces of 500 and 120 px |
| blank_8000x6000 | 8000x6000, no face |
| two_small | 640x480, faces of 35 and 40 px |
| exif_1 ... exif_8 | a 480x640 portrait (faces of 220 and 90 px) stored as a camera with that EXIF |
| | orientation stores it (Pillow writes the tag); the ground truth is in the upright frame |
| gray | 800x600 grayscale JPEG, faces of 150 and 80 px |
| truncated_jpg, truncated_png | `sizes` cut at 60 % of its bytes (JPEG and PNG) |
| corrupt_jpg | `sizes` with bytes changed in its entropy-coded data |

The source faces are at most 128 px across (the shared data's crops), so faces above that are upscaled
(bicubic) and blurrier than a camera's; rotations are uniform in +-12 degrees.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mcl_caffe.core import crop as C

MANIFEST = "photos.json"
KINDS = ("faces", "no face", "corrupt")


@dataclass
class PhotoSpec:
    name: str
    file: str
    width: int = 0  # of the upright image
    height: int = 0
    faces: list = field(default_factory=list)  # dicts: size, source, points (68, 2) upright pixels
    kind: str = "faces"
    orientation: int = 1


def _source_faces():
    from mcl_caffe.data.datasets import load_300w
    from mcl_caffe.data.eval_faces import SHARED_DATA

    return load_300w(SHARED_DATA / "300w", ["lfpw/testset"]).faces


def _background(h: int, w: int, rng) -> np.ndarray:
    import cv2

    grid = rng.integers(40, 220, size=(4, 5, 3)).astype(np.uint8)
    img = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(12):  # some clutter: boxes and discs in muted colours
        c = tuple(int(v) for v in rng.integers(30, 230, size=3))
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        r = int(rng.integers(max(4, min(h, w) // 40), max(8, min(h, w) // 8)))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x - r, y - r // 2), (x + r, y + r // 2), c, -1, cv2.LINE_AA)
        else:
            cv2.circle(img, (x, y), r, c, -1, cv2.LINE_AA)
    return img


def face_affine(points: np.ndarray, size: float, center, angle: float) -> np.ndarray:
    """2x3 map from the source image to the photo: the landmark box's larger side becomes `size`, its centre
    lands on `center`, rotated by `angle` degrees (counter-clockwise on screen, as crop.rotation_about)."""
    box = C.face_box_from_landmarks(points)
    s = size / max(box[1] - box[0], box[3] - box[2])
    a = np.deg2rad(angle)
    R = s * np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    t = np.asarray(center, np.float64) - R @ C.box_center(box)
    return np.hstack([R, t[:, None]])


def _warp(src: np.ndarray, A: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    import cv2

    f = C.downscale_factor(A)  # source pixels per photo pixel
    if f > 1.2:  # shrinking: blur first (crop.warp_to_patch's rule), so a 30 px face is not aliased
        src = cv2.GaussianBlur(src, (0, 0), (f - 1) / 2, borderType=cv2.BORDER_REPLICATE)
    flags = cv2.INTER_CUBIC if f < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(src, A, (out_w, out_h), flags=flags, borderMode=cv2.BORDER_REPLICATE)


def paste(canvas: np.ndarray, face, size: float, center, angle: float) -> np.ndarray:
    """Paste `face` (a loaded 300-W Face) into `canvas` in place; -> its points in the canvas."""
    import cv2

    src = C.face_color(face)
    A = face_affine(face.points, size, center, angle)
    box = C.face_box_from_landmarks(face.points)
    m = max(box[1] - box[0], box[3] - box[2])
    c = C.box_center(box)
    # the head: an ellipse around the landmark box, raised to take in the forehead, in source pixels
    poly = cv2.ellipse2Poly((int(c[0]), int(c[1] - 0.12 * m)), (int(0.72 * m), int(0.92 * m)), 0, 0, 360, 5)
    poly = C.apply_affine(A, poly.astype(np.float64))
    h, w = canvas.shape[:2]
    pad = int(0.1 * size) + 4
    x0, y0 = max(0, int(poly[:, 0].min()) - pad), max(0, int(poly[:, 1].min()) - pad)
    x1, y1 = min(w, int(poly[:, 0].max()) + pad + 1), min(h, int(poly[:, 1].max()) + pad + 1)
    if x1 <= x0 or y1 <= y0:
        raise ValueError("face at %s of size %s falls outside the %dx%d canvas" % (center, size, w, h))
    A_roi = A - np.array([[0, 0, x0], [0, 0, y0]])
    warped = _warp(src, A_roi, x1 - x0, y1 - y0)
    mask = np.zeros((y1 - y0, x1 - x0), np.float32)
    cv2.fillPoly(mask, [np.round(poly - [x0, y0]).astype(np.int32)], 1.0, cv2.LINE_AA)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.05 * size))[:, :, None]
    roi = canvas[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] = np.clip(mask * warped + (1 - mask) * roi + 0.5, 0, 255).astype(np.uint8)
    return C.apply_affine(A, face.points)


def _closeup(face, side: int, size: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """The whole frame from one source image: the face of `size` px centred in a side x side frame."""
    A = face_affine(face.points, size, ((side - 1) / 2, (side - 1) / 2), angle)
    return _warp(C.face_color(face), A, side, side), C.apply_affine(A, face.points)


def _layout(sizes, width: int, height: int, rng):
    """Centres for faces of these sizes on a width x height canvas: shelves, left to right, largest last."""
    centres, x, y, shelf = [], 0.0, 0.0, 0.0
    for s in sizes:
        cell = 1.8 * s
        if x + cell > width:
            x, y, shelf = 0.0, y + shelf, 0.0
        if y + cell > height:
            raise ValueError("faces %s do not fit on %dx%d" % (list(sizes), width, height))
        jitter = rng.uniform(-0.1, 0.1, size=2) * s
        centres.append((x + cell / 2 + jitter[0], y + cell / 2 + jitter[1]))
        x, shelf = x + cell, max(shelf, cell)
    return centres


def _canvas(spec: PhotoSpec, sizes, sources, rng, centres=None) -> np.ndarray:
    img = _background(spec.height, spec.width, rng)
    centres = centres or _layout(sizes, spec.width, spec.height, rng)
    for s, c in zip(sizes, centres):
        face = sources.pop()
        pts = paste(img, face, s, c, float(rng.uniform(-12, 12)))
        spec.faces.append({"size": s, "source": face.image_path, "points": pts.tolist()})
    return img


def _rng(seed: int, name: str):
    """Each photo's own random stream, so that making some photos only gives them the same pixels."""
    import zlib

    return np.random.default_rng([seed, zlib.crc32(name.encode())])


#: the canvases: name -> (width, height, face sizes, face centres or None for a shelf layout)
CANVASES = {
    "canvas_face800": (2000, 2000, [800], [(1000, 1000)]),
    "canvas_face1000": (2000, 2000, [1000], [(1000, 1000)]),
    "canvas_face1400": (2000, 2000, [1400], [(1000, 1000)]),
    "sizes": (1800, 1300, [30, 45, 70, 110, 170, 260, 400], None),
    "twelve_mp": (4000, 3000, [500, 120], [(2300, 1400), (900, 2200)]),
    "two_small": (640, 480, [35, 40], [(200, 230), (440, 250)]),
    "exif": (480, 640, [220, 90], [(240, 250), (110, 540)]),
    "gray": (800, 600, [150, 80], None),
}
CLOSEUPS = {"portrait_1080": (1080, 800), "fullframe_1080": (1080, 1080)}
BROKEN = ("truncated_jpg", "truncated_png", "corrupt_jpg")


def make_photos(out_dir, names=None, seed: int = 0) -> list[PhotoSpec]:
    """Write the photos (all, or those in `names`) and photos.json into out_dir; -> their specs.  Every photo
    has its own faces and random stream, so a photo is the same whichever others are made with it."""
    import cv2

    from mcl_caffe.infer.images import undo_orientation

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    faces = _source_faces()
    order = np.random.default_rng(seed).permutation(len(faces))
    want = (lambda n: True) if names is None else (lambda n: n in names)
    specs: list[PhotoSpec] = []
    # the faces each photo uses: consecutive runs of one shuffled list of the LFPW test faces
    counts = [(n, 1) for n in CLOSEUPS] + [(n, len(v[2])) for n, v in CANVASES.items()]
    taken, start = {}, 0
    for n, k in counts:
        taken[n] = [faces[i] for i in order[start : start + k]]
        start += k

    def jpg(spec, img, quality=92):
        if not cv2.imwrite(str(out / spec.file), img, [cv2.IMWRITE_JPEG_QUALITY, quality]):
            raise OSError("cannot write %s" % (out / spec.file))
        specs.append(spec)

    def canvas(name, file=None):
        w, h, sizes, centres = CANVASES[name]
        spec = PhotoSpec(name, file if file is not None else name + ".jpg", w, h)
        rng = _rng(seed, name)
        if centres is not None:
            centres = [(x + rng.uniform(-0.05, 0.05) * s, y) for (x, y), s in zip(centres, sizes)]
        return spec, _canvas(spec, sizes, list(reversed(taken[name])), rng, centres=centres)

    for name, (side, size) in CLOSEUPS.items():
        if want(name):
            face = taken[name][0]
            img, pts = _closeup(face, side, size, float(_rng(seed, name).uniform(-12, 12)))
            faces_ = [{"size": size, "source": face.image_path, "points": pts.tolist()}]
            jpg(PhotoSpec(name, name + ".jpg", side, side, faces_), img)
    for name in ("canvas_face800", "canvas_face1000", "canvas_face1400", "sizes", "twelve_mp", "two_small"):
        if want(name):
            jpg(*canvas(name))
    if want("blank_8000x6000"):
        blank = np.empty((6000, 8000, 3), np.uint8)
        blank[:] = _rng(seed, "blank").integers(90, 200, size=3)
        jpg(PhotoSpec("blank_8000x6000", "blank_8000x6000.jpg", 8000, 6000, kind="no face"), blank)
        del blank
    if any(want("exif_%d" % o) for o in range(1, 9)):
        upright_spec, upright = canvas("exif", "")
        for o in range(1, 9):
            name = "exif_%d" % o
            if want(name):
                _save_exif(out / (name + ".jpg"), undo_orientation(upright, o), o)
                specs.append(PhotoSpec(name, name + ".jpg", 480, 640, upright_spec.faces, orientation=o))
    if want("gray"):
        spec, img = canvas("gray")
        jpg(spec, cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    if any(want(n) for n in BROKEN):
        _broken(out, canvas("sizes")[1], want, specs)
    (out / MANIFEST).write_text(json.dumps([s.__dict__ for s in specs], indent=1) + "\n")
    return specs


def _save_exif(path: Path, stored_bgr: np.ndarray, orientation: int) -> None:
    """A JPEG whose pixels are stored as given and whose EXIF orientation tag (0x0112) says how to turn
    them upright: written by Pillow, as a camera or phone writes it."""
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(stored_bgr[:, :, ::-1]))
    exif = Image.Exif()
    exif[0x0112] = int(orientation)
    im.save(path, "JPEG", quality=92, exif=exif)


def _broken(out: Path, img: np.ndarray, want, specs: list) -> None:
    import cv2

    ok, jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    ok2, png = cv2.imencode(".png", img)
    if not (ok and ok2):
        raise OSError("cannot encode the broken photos")
    jpeg, png = jpeg.tobytes(), png.tobytes()
    scan = jpeg.index(b"\xff\xda")  # start of scan: the entropy-coded data follows
    corrupt = bytearray(jpeg)
    for k in range(16):  # change bytes spread over the scan; no 0xff in or out (no marker made or broken)
        i = scan + 200 + k * (len(jpeg) - scan - 400) // 16
        while 0xFF in (corrupt[i - 1], corrupt[i], corrupt[i] ^ 0x5A):
            i += 1
        corrupt[i] ^= 0x5A
    for name, data in (
        ("truncated_jpg", jpeg[: int(0.6 * len(jpeg))]),
        ("truncated_png", png[: int(0.6 * len(png))]),
        ("corrupt_jpg", bytes(corrupt)),
    ):
        file = name.replace("_jpg", ".jpg").replace("_png", ".png")
        if want(name):
            (out / file).write_bytes(data)
            specs.append(PhotoSpec(name, file, img.shape[1], img.shape[0], kind="corrupt"))


def load_photos(out_dir) -> dict[str, PhotoSpec]:
    """photos.json of a folder written by make_photos, by name."""
    specs = json.loads((Path(out_dir) / MANIFEST).read_text())
    return {s["name"]: PhotoSpec(**s) for s in specs}


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m mcl_caffe.bench.photos OUT_DIR")
    for s in make_photos(sys.argv[1]):
        print(
            "%-16s %5dx%-5d %-8s faces %s" % (s.name, s.width, s.height, s.kind, [f["size"] for f in s.faces])
        )
