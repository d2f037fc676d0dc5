"""Landmark schemes: partitions, flip permutations, eye centres, checked on the real shared data."""


import numpy as np
import pytest

from mcl_caffe.data.augment import flip_sample
from mcl_caffe.data.datasets import load_300w, load_mtfl_list
from mcl_caffe.core.landmarks import SCHEMES, get_scheme
from conftest import SHARED_DATA

DATA = SHARED_DATA
ALL = list(SCHEMES.values())


@pytest.fixture(scope="module")
def w300_points():
    return np.stack([f.points for f in load_300w(DATA / "300w").faces])


@pytest.fixture(scope="module")
def mtfl_points():
    return np.stack([f.points for f in load_mtfl_list(DATA / "mtfl-full" / "training.txt").faces])


@pytest.mark.parametrize("scheme", ALL, ids=lambda s: s.name)
def test_every_index_in_exactly_one_cluster(scheme):
    members = np.concatenate([np.asarray(idx) for _, idx in scheme.clusters])
    assert sorted(members.tolist()) == list(range(scheme.n_points))  # each index once, none missing
    assert (scheme.cluster_of() >= 0).all()


def test_cluster_counts_match_paper():
    assert [get_scheme(n).n_clusters for n in (5, 29, 68)] == [4, 5, 7]
    names = [name for name, _ in get_scheme(68).clusters]
    assert names == ["left_eye", "right_eye", "nose", "mouth", "left_contour", "chin", "right_contour"]


@pytest.mark.parametrize("scheme", ALL, ids=lambda s: s.name)
def test_flip_perm_is_an_involution_and_maps_clusters_onto_clusters(scheme):
    perm = np.asarray(scheme.flip_perm)
    assert sorted(perm.tolist()) == list(range(scheme.n_points))
    assert (perm[perm] == np.arange(scheme.n_points)).all()
    assert (perm != np.arange(scheme.n_points)).any()
    cl = scheme.cluster_of()
    for _, idx in scheme.clusters:  # the mirror image of a cluster is one whole cluster
        assert len(set(cl[perm[list(idx)]].tolist())) == 1
    # the two eye groups swap under the flip
    left, right = scheme.eye_indices
    assert sorted(perm[list(left)].tolist()) == sorted(right)


@pytest.mark.parametrize("scheme", ALL, ids=lambda s: s.name)
def test_flipping_twice_restores_image_and_points(scheme):
    rng = np.random.default_rng(3)
    patch = rng.integers(0, 256, size=(50, 50), dtype=np.uint8)
    pts = rng.uniform(0, 49, size=(scheme.n_points, 2))
    p1, q1 = flip_sample(patch, pts, scheme)
    assert not np.array_equal(p1, patch)
    assert np.allclose(q1[:, 0] + pts[scheme.flip_perm, 0], 49.0)
    p2, q2 = flip_sample(p1, q1, scheme)
    assert np.array_equal(p2, patch)
    assert np.allclose(q2, pts, atol=1e-12)


def test_known_orders_and_eye_points():
    s5, s29, s68 = get_scheme("aflw5"), get_scheme("cofw29"), get_scheme("300w68")
    assert s5.flip_perm == (1, 0, 2, 4, 3) and s5.eye_indices == ((0,), (1,))
    # RCPR: pupils are points 17 and 18 (1-based); mirror pairs as in the RCPR/HRNet COFW definition
    assert s29.eye_indices == ((16,), (17,))
    pairs_1based = {
        (1, 2),
        (3, 4),
        (5, 7),
        (6, 8),
        (9, 10),
        (11, 12),
        (13, 15),
        (14, 16),
        (17, 18),
        (19, 20),
        (23, 24),
    }
    got = {(i + 1, j + 1) for i, j in enumerate(s29.flip_perm) if i < j}
    assert got == pairs_1based
    assert s68.eye_indices == (tuple(range(36, 42)), tuple(range(42, 48)))
    assert (
        s68.flip_perm[0] == 16
        and s68.flip_perm[36] == 45
        and s68.flip_perm[48] == 54
        and s68.flip_perm[62] == 62
    )
    assert get_scheme(29) is s29 and get_scheme("300w") is s68 and get_scheme("aflw") is s5
    with pytest.raises(KeyError):
        get_scheme(7)


def test_interocular_matches_hand_computation(w300_points):
    s = get_scheme(68)
    p = w300_points[0]
    hand = np.hypot(*(p[36:42].mean(0) - p[42:48].mean(0)))
    assert s.interocular(p) == pytest.approx(hand, rel=1e-12)
    d = s.interocular(w300_points[:5])
    assert d.shape == (5,) and d[0] == pytest.approx(hand, rel=1e-12)


def _sides_ok(points, scheme, width):
    """Fraction of (left, right) point pairs with the 'left' point left of its partner, before and
    after a flip.
    Pairs: names 'left_*' / 'right_*', and jaw points (jaw_1..jaw_8 are on the image's left)."""
    names = scheme.point_names
    lr = []
    for i, j in enumerate(scheme.flip_perm):
        if i >= j:
            continue
        if names[i].startswith("left") and names[j].startswith("right"):
            lr.append((i, j))
        elif names[i].startswith("jaw"):
            lr.append((i, j))

    def frac(pts):
        return np.mean([(pts[:, a, 0] < pts[:, b, 0]).mean() for a, b in lr])

    return len(lr), frac(points), frac(scheme.flip_points(points, width))


def test_flip_keeps_point_semantics_on_real_300w(w300_points):
    s = get_scheme(68)
    n_pairs, before, after = _sides_ok(w300_points, s, width=256)
    assert n_pairs == 8 + 5 + 6
    assert before > 0.97 and after > 0.97  # a wrong permutation would put 'left' points on the right
    # the eye clusters (index sets) are on the image sides their names say
    le, re_ = s.eye_centres(w300_points)
    assert (le[:, 0] < re_[:, 0]).mean() > 0.99


def test_flip_keeps_point_semantics_on_real_mtfl(mtfl_points):
    s = get_scheme(5)
    flipped = s.flip_points(mtfl_points, 80)
    for pts in (mtfl_points, flipped):
        assert (pts[:, 0, 0] < pts[:, 1, 0]).mean() > 0.99  # left eye left of right eye
        assert (pts[:, 3, 0] < pts[:, 4, 0]).mean() > 0.99  # left mouth corner left of right one
        assert (pts[:, 2, 1] > pts[:, :2, 1].max(1)).mean() > 0.95  # nose below the eyes


# 29-point positions approximated from the 68 iBUG points (to check the COFW flip on real faces)
_COFW_FROM_68 = [
    [17],
    [26],
    [21],
    [22],
    [19],
    [18, 20],
    [24],
    [23, 25],
    [36],
    [45],
    [39],
    [42],
    [37, 38],
    [40, 41],
    [43, 44],
    [46, 47],
    list(range(36, 42)),
    list(range(42, 48)),
    [31],
    [35],
    [30],
    [33],
    [48],
    [54],
    [51],
    [62],
    [66],
    [57],
    [8],
]


def _procrustes_error(shapes, ref):
    """Median RMS distance after the best similarity alignment of each shape onto ref (unit-scaled)."""
    z_ref = ref[:, 0] + 1j * ref[:, 1]
    z_ref = (z_ref - z_ref.mean()) / np.linalg.norm(z_ref - z_ref.mean())
    errs = []
    for s in shapes:
        z = s[:, 0] + 1j * s[:, 1]
        z = z - z.mean()
        a = np.vdot(z, z_ref) / np.vdot(z, z)  # complex scale+rotation minimising |a z - z_ref|
        errs.append(np.linalg.norm(a * z - z_ref))
    return float(np.median(errs))


@pytest.mark.parametrize("name", ["aflw5", "cofw29", "300w68"])
def test_flipped_real_shapes_still_look_like_faces(name, w300_points, mtfl_points):
    """A flipped + permuted real shape matches the mean shape as well as the original does; a permutation
    with two points swapped does not (so this test can fail)."""
    s = get_scheme(name)
    if name == "aflw5":
        pts = mtfl_points
    elif name == "cofw29":
        pts = np.stack([w300_points[:, idx].mean(1) for idx in _COFW_FROM_68], axis=1)
    else:
        pts = w300_points
    ref = pts.mean(0)
    base = _procrustes_error(pts, ref)
    good = _procrustes_error(s.flip_points(pts, 256), ref)
    assert good < 1.1 * base
    bad_perm = list(s.flip_perm)
    a, b = s.clusters[0][1][0], s.clusters[3][1][0]  # swap a left-eye point with a mouth point
    bad_perm[a], bad_perm[b] = bad_perm[b], bad_perm[a]
    bad = _procrustes_error((pts[:, bad_perm] * [-1, 1]), ref)
    assert bad > 1.5 * base
