"""samed2d_fast.slice_instances against the numpy/scipy reference (SPEC section 4).

Tests whose name contains ``reference`` check the reference itself; everything else
compares the package to the reference.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import reference as ref
import samed2d_fast as sf

try:
    import cc3d
except ImportError:
    cc3d = None

needs_cc3d = pytest.mark.skipif(cc3d is None, reason="cc3d (connected-components-3d) not installed")

EXAMPLES = int(os.environ.get("SAMED2D_HYPOTHESIS_EXAMPLES", "200"))
prop = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

MODES = ("outer", "union", "off")
CONNS = (8, 4)
MAX_LABEL = 2**32 - 1
INT_DTYPES = [np.dtype(c) for c in ("u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8")]


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def label_max(dt: np.dtype) -> int:
    return min(int(np.iinfo(dt).max), MAX_LABEL)


def summary(instances) -> list:
    out = []
    for i in instances:
        if isinstance(i, dict):
            out.append((i["label"], i["union"], i["members"], i["area"], i["bbox"]))
        else:
            out.append((i.label, i.union, tuple(i.members), i.area, tuple(i.bbox)))
    return out


def assert_instances_equal(got, expected, shape):
    got = list(got)
    assert len(got) == len(expected), (
        f"instance count differs: got {summary(got)}, expected {summary(expected)}"
    )
    for n, (g, e) in enumerate(zip(got, expected)):
        where = f"instance {n}: got {summary([g])[0]}, expected {summary([e])[0]}"
        assert not isinstance(g.label, (bool, np.bool_)), where
        assert int(g.label) == e["label"], where
        assert bool(g.union) == e["union"], where
        assert tuple(int(m) for m in g.members) == e["members"], where
        assert int(g.area) == e["area"], where
        assert tuple(int(x) for x in g.bbox) == e["bbox"], where
        m = np.asarray(g.mask)
        assert m.dtype == np.bool_, where + f" (mask dtype {m.dtype})"
        assert m.shape == tuple(shape), where + f" (mask shape {m.shape})"
        assert np.array_equal(m, e["mask"]), where + " (mask pixels differ)"


def check_against_reference(lab, **kw):
    before = np.array(lab, copy=True)
    expected = ref.slice_instances_ref(lab, **kw)
    got = sf.slice_instances(lab, **kw)
    assert_instances_equal(got, expected, lab.shape)
    assert np.array_equal(lab, before), "slice_instances modified its input"
    return got


def make_strided(draw, a: np.ndarray, poison) -> np.ndarray:
    """A view with the same values as ``a`` but with steps, flips and/or transposed
    memory; the memory between the view's elements is filled with ``poison``."""
    kind = draw(st.sampled_from(["as_is", "strided"]))
    if kind == "as_is":
        return a
    nd = a.ndim
    steps = [draw(st.integers(1, 3)) for _ in range(nd)]
    flips = [draw(st.booleans()) for _ in range(nd)]
    perm = draw(st.permutations(range(nd)))
    big_shape = tuple(n * s for n, s in zip(a.shape, steps))
    buf = np.empty(big_shape, dtype=a.dtype)
    buf[...] = poison
    # same logical shape, memory order permuted (a transposed layout)
    buf = np.ascontiguousarray(buf.transpose(perm)).transpose(np.argsort(perm))
    view = buf[tuple(slice(None, None, -s if f else s) for s, f in zip(steps, flips))]
    assert view.shape == a.shape
    view[...] = a
    assert a.size == 0 or np.shares_memory(view, buf)
    return view


@st.composite
def label_dtypes(draw, min_max: int = 1):
    dt = draw(st.sampled_from([d for d in INT_DTYPES if label_max(d) >= min_max]))
    if dt.itemsize > 1 and draw(st.booleans()):
        dt = dt.newbyteorder(">")
    return dt


@st.composite
def label_values(draw, dt: np.dtype, n: int):
    hi = label_max(dt)
    one = st.one_of(
        st.integers(1, min(hi, 6)),
        st.integers(1, hi),
        st.sampled_from([hi, hi - 1]),
    )
    return draw(st.lists(one, min_size=n, max_size=n, unique=True))


def _poison(dt: np.dtype):
    # an invalid label where the dtype can hold one, else its maximum
    if dt.kind == "i":
        return -1
    return np.iinfo(dt).max


@st.composite
def shapes2d(draw, max_side: int = 12, min_side: int = 0):
    side = st.integers(min_side, max_side)
    return draw(
        st.one_of(
            st.tuples(side, side),
            st.tuples(st.just(1), side),
            st.tuples(side, st.just(1)),
        )
    )


@st.composite
def random_label_maps(draw, max_side: int = 12, dtype=None):
    """Few labels on a small grid, so regions touch, diagonal contacts abound."""
    dt = draw(label_dtypes()) if dtype is None else np.dtype(dtype)
    h, w = draw(shapes2d(max_side))
    nlab = draw(st.integers(1, 4))
    labels = draw(label_values(dt, nlab))
    palette = np.array([0] + labels, dtype=np.uint64)
    idx = draw(arrays(np.int8, (h, w), elements=st.integers(0, nlab), fill=st.nothing()))
    lab = palette[idx].astype(dt)
    return make_strided(draw, lab, _poison(dt))


def _ring(h, w, r0, c0, r1, c1, t):
    m = np.zeros((h, w), dtype=bool)
    m[r0:r1, c0:c1] = True
    m[r0 + t : r1 - t, c0 + t : c1 - t] = False
    return m


@st.composite
def nested_label_maps(draw, max_side: int = 20, dtype=None, min_levels: int = 1):
    """Rectangles, rings (closed, with a gap, with a missing corner) and concentric
    structures of a few labels drawn over each other: rings around blobs, rings around
    cavities, rings of the same label around a blob, three-level nesting."""
    dt = draw(label_dtypes()) if dtype is None else np.dtype(dtype)
    h = draw(st.integers(3 if min_levels == 1 else 3 * min_levels + 1, max_side))
    w = draw(st.integers(3 if min_levels == 1 else 3 * min_levels + 1, max_side))
    nlab = draw(st.integers(min(min_levels + 1, 4), 5))
    labels = draw(label_values(dt, nlab))
    lab = np.zeros((h, w), dtype=np.uint64)
    pick = st.sampled_from([0] + labels)

    def rect():
        r0 = draw(st.integers(0, h - 1))
        r1 = draw(st.integers(r0 + 1, h))
        c0 = draw(st.integers(0, w - 1))
        c1 = draw(st.integers(c0 + 1, w))
        return r0, c0, r1, c1

    def ring_item(kind):
        r0, c0, r1, c1 = rect()
        t = draw(st.integers(1, 2))
        m = _ring(h, w, r0, c0, r1, c1, t)
        if kind == "ring_gap" and m.any():
            pix = np.argwhere(m)
            r, c = pix[draw(st.integers(0, len(pix) - 1))]
            m[r, c] = False
        elif kind == "ring_corner":
            m[r0, c0] = False
        lab[m] = draw(pick)

    def concentric():
        # ring of a label, (gap), ring, ..., innermost blob or cavity (0)
        side = 3 if min_levels == 1 else 3 * min_levels + 1
        r0 = draw(st.integers(0, h - side))
        c0 = draw(st.integers(0, w - side))
        r1 = draw(st.integers(r0 + side, h))
        c1 = draw(st.integers(c0 + side, w))
        levels = draw(st.integers(min_levels, 4))
        order = draw(st.permutations(labels))  # neighbouring levels differ where possible
        for lvl in range(levels):
            if r1 - r0 < 1 or c1 - c0 < 1:
                break
            t = draw(st.integers(1, 2))
            m = _ring(h, w, r0, c0, r1, c1, t)
            if draw(st.integers(0, 5)) == 0:  # sometimes open it: a C-shape
                pix = np.argwhere(m)
                r, c = pix[draw(st.integers(0, len(pix) - 1))]
                m[r, c] = False
            elif draw(st.integers(0, 5)) == 0:  # or remove a corner: diagonal gap
                m[r0, c0] = False
            lab[m] = order[lvl % len(order)]
            g = t + draw(st.integers(0, 1))
            r0, c0, r1, c1 = r0 + g, c0 + g, r1 - g, c1 - g
        if r1 > r0 and c1 > c0:
            inner = draw(st.sampled_from(order[::-1] + [0]))  # a blob, or 0 for a cavity
            lab[r0:r1, c0:c1] = inner

    # background clutter first, then nested structures, then perhaps one more item
    for _ in range(draw(st.integers(0, 3 if min_levels == 1 else 1))):
        kind = draw(st.sampled_from(["fill", "ring", "ring_gap", "ring_corner"]))
        if kind == "fill":
            r0, c0, r1, c1 = rect()
            lab[r0:r1, c0:c1] = draw(pick)
        else:
            ring_item(kind)
    for _ in range(draw(st.integers(1, 3 if min_levels == 1 else 2))):
        concentric()
    if draw(st.booleans()):
        ring_item(draw(st.sampled_from(["ring", "ring_gap", "ring_corner"])))
    lab = lab.astype(dt)
    return make_strided(draw, lab, _poison(dt))


ratios = st.one_of(
    st.just(ref.DEFAULT_MIN_AREA_RATIO),
    st.just(0.0),
    st.floats(0.0, 0.3, allow_nan=False),
    st.sampled_from([1 / 16, 1 / 9, 0.25]),
)


# --------------------------------------------------------------------------------------
# the reference on hand-made cases with known answers
# --------------------------------------------------------------------------------------

def _blob(lab, r0, c0, width, n, value):
    """n pixels filled in raster order inside columns c0..c0+width from row r0: one
    4-connected blob."""
    for i in range(n):
        lab[r0 + i // width, c0 + i % width] = value


KIDNEY = np.array(
    [
        [0, 0, 0, 0, 0, 0, 0],
        [0, 1, 1, 1, 1, 1, 0],
        [0, 1, 0, 0, 0, 1, 0],
        [0, 1, 0, 2, 0, 1, 0],
        [0, 1, 0, 0, 0, 1, 0],
        [0, 1, 1, 1, 1, 1, 0],
        [0, 0, 0, 0, 0, 0, 0],
    ],
    dtype=np.uint8,
)


def test_reference_kidney_ring_with_tumour():
    res = ref.slice_instances_ref(KIDNEY, min_area_ratio=0)
    assert [(r["label"], r["union"], r["members"]) for r in res] == [
        (1, False, (1, 2)),
        (2, False, (2,)),
    ]
    ring, tumour = res
    assert np.array_equal(ring["mask"], (KIDNEY == 1) | (KIDNEY == 2))
    assert ring["area"] == 17 and ring["bbox"] == (1, 1, 6, 6)
    assert np.array_equal(tumour["mask"], KIDNEY == 2)
    assert tumour["area"] == 1 and tumour["bbox"] == (3, 3, 4, 4)
    # the tumour touching the ring is enclosed too
    full = KIDNEY.copy()
    full[2:5, 2:5] = 2
    res = ref.slice_instances_ref(full, min_area_ratio=0)
    assert [(r["label"], r["members"], r["area"]) for r in res] == [(1, (1, 2), 25), (2, (2,), 9)]
    # with 4-connectivity too
    res4 = ref.slice_instances_ref(KIDNEY, connectivity=4, min_area_ratio=0)
    assert [(r["label"], r["members"], r["area"]) for r in res4] == [(1, (1, 2), 17), (2, (2,), 1)]


def test_reference_open_ring_encloses_nothing():
    c_shape = KIDNEY.copy()
    c_shape[3, 5] = 0  # an opening on the right edge of the ring
    for conn in CONNS:
        res = ref.slice_instances_ref(c_shape, connectivity=conn, min_area_ratio=0)
        assert [(r["label"], r["members"], r["area"]) for r in res] == [
            (1, (1,), 15),
            (2, (2,), 1),
        ]
        assert np.array_equal(res[0]["mask"], c_shape == 1)


def test_reference_diagonal_gap_in_ring_depends_on_connectivity():
    lab = KIDNEY.copy()
    lab[1, 1] = 0  # corner missing: closed for 8-connectivity, open for 4
    res8 = ref.slice_instances_ref(lab, connectivity=8, min_area_ratio=0)
    assert [(r["label"], r["members"], r["area"]) for r in res8] == [(1, (1, 2), 16), (2, (2,), 1)]
    res4 = ref.slice_instances_ref(lab, connectivity=4, min_area_ratio=0)
    assert [(r["label"], r["members"], r["area"]) for r in res4] == [(1, (1,), 15), (2, (2,), 1)]


def test_reference_diagonal_contact_8_vs_4():
    lab = np.array([[1, 0], [0, 1]], dtype=np.int32)
    res8 = ref.slice_instances_ref(lab, connectivity=8, min_area_ratio=0)
    assert [(r["label"], r["area"], r["bbox"]) for r in res8] == [(1, 2, (0, 0, 2, 2))]
    res4 = ref.slice_instances_ref(lab, connectivity=4, min_area_ratio=0)
    assert [(r["label"], r["area"], r["bbox"]) for r in res4] == [
        (1, 1, (0, 0, 1, 1)),
        (1, 1, (1, 1, 2, 2)),
    ]
    # anti-diagonal: order is by lowest row-major index
    lab = np.array([[0, 3], [3, 0]], dtype=np.uint16)
    res4 = ref.slice_instances_ref(lab, connectivity=4, min_area_ratio=0)
    assert [r["bbox"] for r in res4] == [(0, 1, 1, 2), (1, 0, 2, 1)]


def test_reference_three_nested_labels():
    lab = np.zeros((9, 9), dtype=np.uint16)
    lab[_ring(9, 9, 0, 0, 9, 9, 1)] = 30  # c
    lab[_ring(9, 9, 2, 2, 7, 7, 1)] = 20  # b
    lab[4, 4] = 10  # a
    res = ref.slice_instances_ref(lab, min_area_ratio=0)
    assert [(r["label"], r["members"]) for r in res] == [(30, (30, 10, 20)), (20, (20, 10)), (10, (10,))]
    c, b, a = (lab == 30), (lab == 20), (lab == 10)
    assert np.array_equal(res[0]["mask"], c | b | a)
    assert np.array_equal(res[1]["mask"], b | a)
    assert np.array_equal(res[2]["mask"], a)
    assert [r["area"] for r in res] == [32 + 16 + 1, 17, 1]


def test_reference_same_label_inside_ring_not_merged():
    lab = KIDNEY.copy()
    lab[3, 3] = 1  # same label as the ring, not touching it
    for mode in MODES:
        res = ref.slice_instances_ref(lab, consolidate=mode, min_area_ratio=0)
        assert [(r["label"], r["union"], r["members"], r["area"]) for r in res] == [
            (1, False, (1,), 16),
            (1, False, (1,), 1),
        ], mode
        assert np.array_equal(res[0]["mask"], KIDNEY == 1)


def test_reference_same_label_blob_inside_but_other_label_merged():
    lab = np.zeros((9, 9), dtype=np.uint8)
    lab[_ring(9, 9, 0, 0, 9, 9, 1)] = 1
    lab[2, 2] = 1  # same label: not merged
    lab[5, 5] = 2  # other label: merged
    res = ref.slice_instances_ref(lab, min_area_ratio=0)
    assert [(r["label"], r["members"], r["area"]) for r in res] == [
        (1, (1, 2), 33),
        (1, (1,), 1),
        (2, (2,), 1),
    ]
    assert not res[0]["mask"][2, 2] and res[0]["mask"][5, 5]


def test_reference_union_mode_ordering():
    lab = np.zeros((8, 8), dtype=np.uint32)
    lab[0, 0] = 9  # first in raster order
    lab[_ring(8, 8, 1, 2, 6, 7, 1)] = 5  # ring, first pixel (1, 2)
    lab[3, 4] = 2  # tumour inside the ring
    lab[3, 5] = 7  # another label inside
    lab[7, 0:3] = 1  # a blob below
    res = ref.slice_instances_ref(lab, consolidate="union", min_area_ratio=0)
    assert [(r["label"], r["union"], r["members"]) for r in res] == [
        (9, False, (9,)),
        (5, False, (5,)),
        (5, True, (5, 2, 7)),
        (2, False, (2,)),
        (7, False, (7,)),
        (1, False, (1,)),
    ]
    assert np.array_equal(res[1]["mask"], lab == 5)
    assert np.array_equal(res[2]["mask"], (lab == 5) | (lab == 2) | (lab == 7))
    assert res[2]["area"] == 16 + 2 and res[2]["bbox"] == (1, 2, 6, 7)
    outer = ref.slice_instances_ref(lab, consolidate="outer", min_area_ratio=0)
    assert [(r["label"], r["union"], r["members"]) for r in outer] == [
        (9, False, (9,)),
        (5, False, (5, 2, 7)),
        (2, False, (2,)),
        (7, False, (7,)),
        (1, False, (1,)),
    ]
    off = ref.slice_instances_ref(lab, consolidate="off", min_area_ratio=0)
    assert [(r["label"], r["members"]) for r in off] == [(9, (9,)), (5, (5,)), (2, (2,)), (7, (7,)), (1, (1,))]


def test_reference_union_mask_filtered_on_its_own():
    # a thin ring (60 px) around a big tumour (196 px): the filter drops the ring but
    # keeps its union mask (256 px) and the tumour
    lab = np.full((16, 16), 2, dtype=np.uint8)
    lab[_ring(16, 16, 0, 0, 16, 16, 1)] = 1
    res = ref.slice_instances_ref(lab, consolidate="union", min_area_ratio=100 / 256)
    assert [(r["label"], r["union"], r["area"]) for r in res] == [(1, True, 256), (2, False, 196)]


def test_reference_area_threshold_256():
    lab = np.zeros((256, 256), dtype=np.uint8)
    _blob(lab, 10, 10, 10, 100, 1)  # 100 px: kept (100 * 65536 == 100 * 256 * 256)
    _blob(lab, 50, 50, 10, 99, 2)  # 99 px: dropped
    assert (lab == 1).sum() == 100 and (lab == 2).sum() == 99
    res = ref.slice_instances_ref(lab)
    assert [(r["label"], r["area"]) for r in res] == [(1, 100)]
    res = ref.slice_instances_ref(lab, min_area_ratio=0)
    assert [(r["label"], r["area"]) for r in res] == [(1, 100), (2, 99)]
    assert ref.default_filter_keeps(100, 256, 256) and not ref.default_filter_keeps(99, 256, 256)


def test_reference_empty_and_errors():
    assert ref.slice_instances_ref(np.zeros((0, 5), np.uint8)) == []
    assert ref.slice_instances_ref(np.zeros((5, 0), np.uint8)) == []
    assert ref.slice_instances_ref(np.zeros((3, 3), np.uint8)) == []
    with pytest.raises(ValueError):
        ref.slice_instances_ref(np.array([[-1]], np.int8))
    with pytest.raises(ValueError):
        ref.slice_instances_ref(np.array([[2**32]], np.int64))
    with pytest.raises(TypeError):
        ref.slice_instances_ref(np.zeros((2, 2), np.float32))
    res = ref.slice_instances_ref(np.array([[MAX_LABEL]], np.uint64))
    assert res[0]["label"] == MAX_LABEL


@needs_cc3d
@prop
@given(
    lab=st.one_of(random_label_maps(), nested_label_maps()),
    conn=st.sampled_from(CONNS),
)
def test_reference_components_match_cc3d(lab, conn):
    res = ref.slice_instances_ref(lab, connectivity=conn, consolidate="off", min_area_ratio=0)
    _assert_matches_cc3d(res, lab, conn)


def _assert_matches_cc3d(instances, lab, conn):
    instances = list(instances)
    if lab.size == 0:
        assert instances == []
        return
    cc = cc3d.connected_components(np.ascontiguousarray(lab, dtype=np.uint64), connectivity=conn)
    n = int(cc.max())
    assert len(instances) == n
    want = {(cc == i).tobytes() for i in range(1, n + 1)}
    have = {np.asarray(i["mask"] if isinstance(i, dict) else i.mask, dtype=bool).tobytes() for i in instances}
    assert have == want


# --------------------------------------------------------------------------------------
# the package against the reference
# --------------------------------------------------------------------------------------


@prop
@given(
    lab=random_label_maps(),
    conn=st.sampled_from(CONNS),
    mode=st.sampled_from(MODES),
    ratio=ratios,
)
def test_random_label_maps(lab, conn, mode, ratio):
    check_against_reference(lab, connectivity=conn, consolidate=mode, min_area_ratio=ratio)


@prop
@given(
    lab=st.one_of(nested_label_maps(), nested_label_maps(max_side=16, min_levels=2)),
    conn=st.sampled_from(CONNS),
    mode=st.sampled_from(MODES),
    ratio=ratios,
)
def test_nested_regions(lab, conn, mode, ratio):
    check_against_reference(lab, connectivity=conn, consolidate=mode, min_area_ratio=ratio)


@prop
@given(lab=st.one_of(random_label_maps(), nested_label_maps()))
def test_defaults(lab):
    expected = ref.slice_instances_ref(lab, connectivity=8, consolidate="outer",
                                       min_area_ratio=100 / 65536)
    assert_instances_equal(sf.slice_instances(lab), expected, lab.shape)


@prop
@given(
    dtype=st.sampled_from(["u4", ">u4", "u8", ">u8", "i8", ">i8"]),
    data=st.data(),
    conn=st.sampled_from(CONNS),
    mode=st.sampled_from(MODES),
)
def test_large_label_values(dtype, data, conn, mode):
    dt = np.dtype(dtype)
    gen = data.draw(st.sampled_from([random_label_maps, nested_label_maps]))
    lab = data.draw(gen(dtype=dt))
    # move every label into the top of the 32-bit range, keeping distinct labels distinct
    vals = np.unique(lab)
    top = {int(v): MAX_LABEL - i for i, v in enumerate(sorted(int(x) for x in vals if x != 0))}
    big = np.zeros(lab.shape, dtype=dt)
    for v, t in top.items():
        big[lab == v] = t
    check_against_reference(big, connectivity=conn, consolidate=mode, min_area_ratio=0)
    check_against_reference(big[::-1, ::2].T, connectivity=conn, consolidate=mode, min_area_ratio=0)


@pytest.mark.parametrize("dtype", ["u4", ">u4", "u8", ">u8", "i8", ">i8"])
def test_max_label_value(dtype):
    lab = np.zeros((5, 6), dtype=dtype)
    lab[_ring(5, 6, 0, 0, 5, 5, 1)] = MAX_LABEL
    lab[2, 2] = MAX_LABEL - 1
    lab[:, 5] = 2**31
    for mode in MODES:
        got = check_against_reference(lab, consolidate=mode, min_area_ratio=0)
        assert int(got[0].label) == MAX_LABEL


@pytest.mark.parametrize("shape", [(0, 0), (0, 1), (0, 7), (7, 0), (1, 0)])
@pytest.mark.parametrize("dtype", ["u1", "i4", "u8"])
def test_empty(shape, dtype):
    lab = np.zeros(shape, dtype=dtype)
    for mode in MODES:
        assert list(sf.slice_instances(lab, consolidate=mode)) == []


@pytest.mark.parametrize("conn", CONNS)
@pytest.mark.parametrize("mode", MODES)
def test_thin_shapes(conn, mode):
    rng = np.random.default_rng(1)
    for shape in [(1, 1), (1, 9), (9, 1), (1, 64), (64, 1), (2, 50)]:
        for _ in range(5):
            lab = rng.integers(0, 3, size=shape).astype(np.uint16)
            check_against_reference(lab, connectivity=conn, consolidate=mode, min_area_ratio=0)
    one = np.array([[7]], dtype=np.uint8)
    got = check_against_reference(one, connectivity=conn, consolidate=mode)
    assert len(got) == 1 and tuple(int(x) for x in got[0].bbox) == (0, 0, 1, 1)


@pytest.mark.parametrize("conn", CONNS)
@pytest.mark.parametrize("mode", MODES)
def test_area_threshold_256(conn, mode):
    lab = np.zeros((256, 256), dtype=np.uint8)
    _blob(lab, 10, 10, 10, 100, 1)  # exactly at the threshold: kept
    _blob(lab, 50, 50, 10, 99, 2)  # one pixel below: dropped
    got = check_against_reference(lab, connectivity=conn, consolidate=mode)
    assert [(int(g.label), int(g.area)) for g in got] == [(1, 100)]


@prop
@given(
    h=st.integers(26, 300),
    w=st.integers(26, 300),
    conn=st.sampled_from(CONNS),
    mode=st.sampled_from(MODES),
)
def test_area_threshold_any_shape(h, w, conn, mode):
    need = -(-100 * h * w // 65536)  # smallest kept area
    width = max(1, int(np.ceil(np.sqrt(need))))
    lab = np.zeros((h, w), dtype=np.uint16)
    _blob(lab, 0, 0, width, need, 1)
    if need > 1:
        _blob(lab, 0, width + 1, width, need - 1, 2)
    got = check_against_reference(lab, connectivity=conn, consolidate=mode)
    assert [(int(g.label), int(g.area)) for g in got] == [(1, need)]
    assert ref.default_filter_keeps(need, h, w) and not ref.default_filter_keeps(need - 1, h, w)


def test_errors():
    ok = np.zeros((3, 3), dtype=np.uint8)
    ok[1, 1] = 1
    with pytest.raises(ValueError):
        sf.slice_instances(np.array([[0, -1]], dtype=np.int8))
    with pytest.raises(ValueError):
        sf.slice_instances(np.array([[0, -(2**63)]], dtype=np.int64))
    with pytest.raises(ValueError):
        sf.slice_instances(np.array([[0, 2**32]], dtype=np.int64))
    with pytest.raises(ValueError):
        sf.slice_instances(np.array([[0, 2**32]], dtype=np.uint64))
    with pytest.raises(ValueError):
        sf.slice_instances(np.array([[0, 2**64 - 1]], dtype=np.uint64))
    with pytest.raises(ValueError):
        sf.slice_instances(np.zeros(5, dtype=np.uint8))
    with pytest.raises(ValueError):
        sf.slice_instances(np.zeros((2, 2, 2), dtype=np.uint8))
    for conn in (0, 1, 6, 26):
        with pytest.raises(ValueError):
            sf.slice_instances(ok, connectivity=conn)
    for mode in ("", "bad", "OUTER", "inner"):
        with pytest.raises(ValueError):
            sf.slice_instances(ok, consolidate=mode)
    for dt in (np.float16, np.float32, np.float64, np.bool_):
        with pytest.raises(TypeError):
            sf.slice_instances(ok.astype(dt))
    with pytest.raises(TypeError):
        sf.slice_instances(ok.astype(object))
    # valid extremes do not raise
    assert len(sf.slice_instances(np.array([[MAX_LABEL]], dtype=np.uint64), min_area_ratio=0)) == 1
    assert len(sf.slice_instances(np.array([[MAX_LABEL]], dtype=np.int64), min_area_ratio=0)) == 1


@needs_cc3d
@prop
@given(
    lab=st.one_of(random_label_maps(), nested_label_maps()),
    conn=st.sampled_from(CONNS),
)
def test_components_match_cc3d(lab, conn):
    got = sf.slice_instances(lab, connectivity=conn, consolidate="off", min_area_ratio=0)
    _assert_matches_cc3d(got, lab, conn)


@pytest.mark.parametrize("conn", CONNS)
@pytest.mark.parametrize("mode", MODES)
def test_larger_random_slices(conn, mode):
    # a few bigger slices so that any blocked/parallel code paths are exercised
    rng = np.random.default_rng(12345)
    for h, w in [(128, 96), (67, 200)]:
        lab = np.zeros((h, w), dtype=np.uint16)
        for _ in range(40):
            r0, c0 = rng.integers(0, h - 2), rng.integers(0, w - 2)
            r1, c1 = rng.integers(r0 + 1, h + 1), rng.integers(c0 + 1, w + 1)
            v = int(rng.integers(0, 6))
            if rng.random() < 0.5:
                lab[r0:r1, c0:c1] = v
            else:
                lab[_ring(h, w, r0, c0, r1, c1, int(rng.integers(1, 3)))] = v
        noise = rng.random((h, w)) < 0.02
        lab[noise] = rng.integers(0, 6, size=int(noise.sum()))
        check_against_reference(lab, connectivity=conn, consolidate=mode)
        check_against_reference(lab, connectivity=conn, consolidate=mode, min_area_ratio=0)


# --------------------------------------------------------------------------------------
# the real SAM-Med2D demo masks
# --------------------------------------------------------------------------------------


DEMO_IMAGES = ["s0114_111", "s0619_32"]


def _load_demo(shared_data: Path, image: str):
    """Label map (uint16; sorted class names -> 1..n) and {class: [masks in NNN order]}."""
    from PIL import Image

    demo = shared_data / "sam_med2d_demo"
    pat = re.compile(rf"^{re.escape(image)}_(.+)_(\d{{3}})\.png$")
    files = defaultdict(list)
    for p in sorted((demo / "masks").iterdir()):
        m = pat.match(p.name)
        if m:
            files[m.group(1)].append((int(m.group(2)), p))
    assert files, f"no masks for {image}"
    classes = sorted(files)
    masks = {}
    shape = None
    for cls in classes:
        nums = sorted(n for n, _ in files[cls])
        assert nums == list(range(len(nums))), (cls, nums)
        masks[cls] = []
        for _n, p in sorted(files[cls]):
            with Image.open(p) as im:
                a = np.asarray(im.convert("L"))
            assert set(np.unique(a).tolist()) <= {0, 255}
            masks[cls].append(a > 0)
            shape = a.shape if shape is None else shape
            assert a.shape == shape
    lab = np.zeros(shape, dtype=np.uint16)
    for v, cls in enumerate(classes, start=1):
        for m in masks[cls]:
            assert not lab[m].any(), f"{image}: {cls} overlaps another mask"
            lab[m] = v
    return lab, classes, masks


def _check_demo(instances, image, lab, classes, masks):
    per_class = defaultdict(list)
    for inst in instances:
        if isinstance(inst, dict):
            label, union, mask = inst["label"], inst["union"], inst["mask"]
        else:
            label, union, mask = int(inst.label), bool(inst.union), np.asarray(inst.mask)
        assert not union
        per_class[classes[label - 1]].append(mask)
    assert sorted(per_class) == classes
    for cls in classes:
        got, want = per_class[cls], masks[cls]
        assert len(got) == len(want), f"{image} {cls}: {len(got)} instances, files have {len(want)}"
        for n, (g, w) in enumerate(zip(got, want)):
            assert np.array_equal(g, w), f"{image} {cls}: instance {n} differs from file _{n:03d}"


@pytest.mark.parametrize("image", DEMO_IMAGES)
def test_reference_on_sam_med2d_demo(shared_data, image):
    lab, classes, masks = _load_demo(shared_data, image)
    for mode in MODES:
        res = ref.slice_instances_ref(lab, consolidate=mode, min_area_ratio=0)
        _check_demo(res, image, lab, classes, masks)


@pytest.mark.parametrize("image", DEMO_IMAGES)
def test_sam_med2d_demo(shared_data, image):
    lab, classes, masks = _load_demo(shared_data, image)
    got = sf.slice_instances(lab, min_area_ratio=0)
    _check_demo(got, image, lab, classes, masks)
    check_against_reference(lab, min_area_ratio=0)
    check_against_reference(lab)
    check_against_reference(lab, connectivity=4, consolidate="union")


@pytest.mark.parametrize("dtype", ["u2", ">u2", "i4", ">u4", "u8", ">i8"])
def test_broadcast_readonly_unaligned_fortran(dtype):
    lab = np.zeros((9, 11), dtype=dtype)
    lab[_ring(9, 11, 1, 1, 8, 8, 1)] = 3
    lab[4, 4] = 1
    lab[0, 9:] = 2
    lab[8, 10] = 2
    for mode in MODES:
        check_against_reference(np.asfortranarray(lab), consolidate=mode, min_area_ratio=0)
        ro = lab.copy()
        ro.flags.writeable = False
        check_against_reference(ro, consolidate=mode, min_area_ratio=0)
        buf = bytearray(lab.nbytes + 1)
        un = np.frombuffer(buf, dtype=lab.dtype, offset=1, count=lab.size).reshape(lab.shape)
        un[...] = lab
        check_against_reference(un, consolidate=mode, min_area_ratio=0)
        check_against_reference(un[::-1, ::-1].T, consolidate=mode, min_area_ratio=0)
        check_against_reference(np.broadcast_to(lab[:, 3:4], (9, 5)), consolidate=mode, min_area_ratio=0)
        check_against_reference(np.broadcast_to(lab[4:5, :], (6, 11)), consolidate=mode, min_area_ratio=0)


def test_masks_are_read_only_views_built_once_per_slice():
    from samed2d_fast.instances import slice_instances

    labels = np.zeros((12, 14), np.uint8)
    labels[1:5, 1:5] = 1
    labels[7:11, 2:9] = 2
    labels[8:10, 4:6] = 3  # inside 2
    instances = slice_instances(labels)
    first = instances[0].mask
    assert np.shares_memory(first, instances[0].mask)  # built once, not again per access
    assert instances[0].mask.base is instances[1].mask.base  # one array for the slice
    with pytest.raises(ValueError):
        first[0, 0] = True
    assert [int(i.mask.sum()) for i in instances] == [i.area for i in instances]


def test_instance_masks_refuses_inconsistent_arguments():
    from samed2d_fast import _core
    from samed2d_fast.instances import slice_instances_raw

    raw = slice_instances_raw(np.eye(6, dtype=np.uint8))
    args = [raw["components"], raw["member_offsets"], raw["member_components"], raw["bbox"]]
    assert _core.instance_masks(*args).shape == (len(raw["label"]), 6, 6)
    bad_box = raw["bbox"].copy()
    bad_box[0, 2] = 99
    with pytest.raises(ValueError, match="outside the slice"):
        _core.instance_masks(args[0], args[1], args[2], bad_box)
    with pytest.raises(ValueError, match="do not describe the same instances"):
        _core.instance_masks(args[0], args[1][:-1], args[2], args[3])
    with pytest.raises(TypeError, match="uint16 or uint32"):
        _core.instance_masks(args[0].astype(np.int32), *args[1:])
