"""COFW .mat reading in both layouts, on small files written here the way MATLAB writes them.

v7.3 (COFW_*_color.mat): HDF5 with a 512-byte MATLAB userblock; every array stored with its
dimensions reversed (MATLAB is column-major), the image cell array as a (1, N) dataset of object
references into '#refs#'.  v5 (original COFW_*.mat): scipy.io.savemat with an (N, 1) cell array.
Images are non-square and carry a bright pixel at each landmark, so a transposed image or a
missing 1-based -> 0-based shift is caught.
"""

import h5py
import numpy as np
import pytest
from scipy.io import savemat

from mcl_caffe.core.crop import to_gray
from mcl_caffe.data.datasets import load_cofw, read_cofw_mat
from mcl_caffe.data.prepare import PrepareOptions, prepare
from mcl_caffe.data.augment import AugmentConfig

H, W = 90, 120


def _faces(n, seed, colour):
    """n synthetic faces: images (MATLAB orientation HxW[x3]), phis (n, 87) 1-based,
    bboxes (n, 4) [x y w h]."""
    rng = np.random.default_rng(seed)
    images, phis, boxes = [], [], []
    for k in range(n):
        img = np.zeros((H, W, 3) if colour else (H, W), np.uint8)
        xs = rng.uniform(35, 85, 29).round()  # integer 1-based pixel positions
        ys = rng.uniform(25, 70, 29).round()
        xs[16], ys[16], xs[17], ys[17] = 45, 35, 75, 36  # pupils apart
        for x, y in zip(xs, ys):
            img[int(y) - 1, int(x) - 1] = 255  # MATLAB img(y, x) = 255
        if colour:
            img[..., 2] = 7  # blue channel constant (R, G, B order as MATLAB stores)
        occ = (rng.random(29) < 0.3).astype(float)
        phis.append(np.concatenate([xs, ys, occ]))
        boxes.append([xs.min() - 5, ys.min() - 8, xs.max() - xs.min() + 10, ys.max() - ys.min() + 16])
        images.append(img)
    return images, np.array(phis), np.array(boxes, dtype=float)


def write_v73(path, split_vars, seed=0, n=4):
    """Write a MATLAB v7.3-style file holding the variables named in split_vars (IsTr, phisTr, bboxesTr)."""
    img_name, phis_name, box_name = split_vars
    images, phis, boxes = _faces(n, seed, colour=True)
    header = (
        b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018 HDF5 schema 1.00 ."
    )
    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        ref_ds = f.create_dataset(img_name, shape=(1, n), dtype=h5py.ref_dtype)  # cell N x 1 -> (1, N)
        ref_ds.attrs["MATLAB_class"] = np.bytes_("cell")
        for k, img in enumerate(images):
            d = refs.create_dataset("img%d" % k, data=np.transpose(img, (2, 1, 0)))  # H x W x 3 -> (3, W, H)
            d.attrs["MATLAB_class"] = np.bytes_("uint8")
            ref_ds[0, k] = d.ref
        f.create_dataset(phis_name, data=phis.T).attrs["MATLAB_class"] = np.bytes_(
            "double"
        )  # N x 87 -> (87, N)
        f.create_dataset(box_name, data=boxes.T).attrs["MATLAB_class"] = np.bytes_(
            "double"
        )  # N x 4 -> (4, N)
    with open(path, "r+b") as fh:
        fh.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM")
    return images, phis, boxes


def write_v5(path, split_vars, seed=0, n=4):
    img_name, phis_name, box_name = split_vars
    images, phis, boxes = _faces(n, seed, colour=False)
    cell = np.empty((n, 1), dtype=object)
    for k, img in enumerate(images):
        cell[k, 0] = img
    savemat(str(path), {img_name: cell, phis_name: phis, box_name: boxes})
    return images, phis, boxes


@pytest.mark.parametrize("layout", ["v73", "v5"])
def test_cofw_layouts_read_back(tmp_path, layout):
    if layout == "v73":
        tr = write_v73(tmp_path / "COFW_train_color.mat", ("IsTr", "phisTr", "bboxesTr"), seed=1, n=5)
        te = write_v73(tmp_path / "COFW_test_color.mat", ("IsT", "phisT", "bboxesT"), seed=2, n=3)
        assert h5py.is_hdf5(tmp_path / "COFW_train_color.mat")
        with open(tmp_path / "COFW_train_color.mat", "rb") as fh:
            assert fh.read(10) == b"MATLAB 7.3"
    else:
        tr = write_v5(tmp_path / "COFW_train.mat", ("IsTr", "phisTr", "bboxesTr"), seed=1, n=5)
        te = write_v5(tmp_path / "COFW_test.mat", ("IsT", "phisT", "bboxesT"), seed=2, n=3)
        assert not h5py.is_hdf5(tmp_path / "COFW_train.mat")
    for split, (images, phis, boxes) in (("train", tr), ("test", te)):
        r = load_cofw(tmp_path, split)
        assert len(r.faces) == len(images) and not r.problems
        for k, f in enumerate(r.faces):
            assert f.image.shape == images[k].shape and np.array_equal(
                f.image, images[k]
            )  # orientation restored
            gray = to_gray(f.image, f.channel_order)
            # the bright pixel sits exactly at each 0-based landmark position
            xi, yi = f.points[:, 0].astype(int), f.points[:, 1].astype(int)
            assert np.allclose(f.points, np.rint(f.points)) and (gray[yi, xi] > 150).all()
            assert np.allclose(f.points[:, 0], phis[k, :29] - 1) and np.allclose(
                f.points[:, 1], phis[k, 29:58] - 1
            )
            assert np.array_equal(f.occlusion, phis[k, 58:].astype(np.float32))
            x, y, w, h = boxes[k]
            assert np.allclose(
                f.box, [x - 1, x - 1 + w, y - 1, y - 1 + h]
            )  # [x y w h] -> (l, r, t, b), 0-based
            assert f.channel_order == "rgb"
    if layout == "v73":  # colour really is RGB: the constant 7 is in the last (blue) channel
        assert (r.faces[0].image[..., 2] == 7).all()


def test_raw_reader_restores_matlab_orientation(tmp_path):
    images, phis, boxes = write_v73(tmp_path / "x.mat", ("IsT", "phisT", "bboxesT"), n=2)
    imgs, p, b = read_cofw_mat(tmp_path / "x.mat", "test")
    assert p.shape == (2, 87) and b.shape == (2, 4) and imgs[0].shape == (H, W, 3)
    assert np.array_equal(p, phis) and np.array_equal(b, boxes)


def test_cofw_problems_are_reported(tmp_path):
    images, phis, boxes = _faces(3, 0, colour=False)
    phis[1, 5] = np.nan
    boxes[2, 2] = 0.0  # zero width
    cell = np.empty((3, 1), dtype=object)
    for k, img in enumerate(images):
        cell[k, 0] = img
    savemat(str(tmp_path / "COFW_test.mat"), {"IsT": cell, "phisT": phis, "bboxesT": boxes})
    r = load_cofw(tmp_path, "test")
    assert len(r.faces) == 1
    assert [p.reason for p in r.problems] == ["non-numeric value", "zero-area box"]
    assert "COFW_test.mat:IsT{2}" in r.problems[0].message and "COFW_test.mat:IsT{3}" in r.problems[1].message
    savemat(str(tmp_path / "COFW_train.mat"), {"IsTr": cell, "phisTr": phis[:, :50], "bboxesTr": boxes})
    r = load_cofw(tmp_path, "train")
    assert {p.reason for p in r.problems} == {"wrong point count"}
    with pytest.raises(FileNotFoundError, match="COFW_train_color.mat"):
        load_cofw(tmp_path / "empty", "train")


def test_cofw_end_to_end_with_given_boxes(tmp_path):
    """prepare() on a synthetic COFW: occlusion flags follow the flip permutation; test crops use
    the boxes."""
    write_v73(tmp_path / "COFW_train_color.mat", ("IsTr", "phisTr", "bboxesTr"), seed=3, n=12)
    write_v73(tmp_path / "COFW_test_color.mat", ("IsT", "phisT", "bboxesT"), seed=4, n=3)
    aug = AugmentConfig(rotations=2, jitters=1, flip="both", jpeg_prob=0.0)
    s = prepare(
        PrepareOptions(
            dataset="cofw",
            data_root=tmp_path,
            out=tmp_path / "out",
            augment=aug,
            val_fraction=0.25,
            workers=1,
            progress=False,
        )
    )
    assert s["written"]["train"] == {"faces": 9, "samples": 36, "files": 1}
    assert s["written"]["test"]["samples"] == 3
    import json

    meta = json.loads((tmp_path / "out" / "cofw" / "meta.json").read_text())
    cal = meta["crop"]["given_box_calibration"]
    assert cal["fitted_on"] == 0 and cal["scale"] == 1.35  # < 10 boxed training faces: no fit
    faces = load_cofw(tmp_path, "train").faces
    with h5py.File(tmp_path / "out" / "cofw" / "h5" / "train_000.h5", "r") as f:
        occ, idx, fl = f["occlusion"][...], f["index"][...], f["flipped"][...].astype(bool)
        assert f["label"].shape == (36, 58)
    from mcl_caffe.core.landmarks import get_scheme

    perm = np.asarray(get_scheme(29).flip_perm)
    for k in range(36):
        want = faces[idx[k]].occlusion
        assert np.array_equal(occ[k], want[perm] if fl[k] else want)
    with h5py.File(tmp_path / "out" / "cofw" / "h5" / "test_000.h5", "r") as f:
        crop = f["crop"][...]
    tfaces = load_cofw(tmp_path, "test").faces
    for k, face in enumerate(tfaces):  # test crop: centred on the given box, side 1.35 * max(w, h)
        left, right, top, bottom = face.box
        side = 1.35 * max(right - left, bottom - top)
        assert crop[k, 2] == pytest.approx(side)
        assert crop[k, 0] + 24.5 * side / 50 == pytest.approx((left + right) / 2)
