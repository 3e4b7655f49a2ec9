"""samed2d_fast.normalize against the numpy reference (SPEC section 2), and the slicing
reference helpers (SPEC section 3).

Tests whose name contains ``reference`` check the reference itself; everything else
compares the package to the reference.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays, from_dtype

import reference as ref
import samed2d_fast as sf
from samed2d_fast import _core
from samed2d_fast.normalize import normalize_release

EXAMPLES = int(os.environ.get("SAMED2D_HYPOTHESIS_EXAMPLES", "200"))
prop = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

INT_CODES = ("u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8")
FLOAT_CODES = ("f2", "f4", "f8")
ALL_CODES = INT_CODES + FLOAT_CODES
# every dtype in both byte orders ('>' is big-endian; '<' native on x86/arm64)
ALL_DTYPES = sorted(
    {np.dtype(c).newbyteorder(o) for c in ALL_CODES for o in "<>"}, key=lambda d: d.str
)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def extremes(dt: np.dtype) -> list:
    dt = np.dtype(dt)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        vals = [int(info.min), int(info.max), 0, 1, int(info.max) - 1, int(info.min) + 1]
        if dt.kind == "i":
            vals += [-1]
        return vals
    info = np.finfo(dt)
    return [
        float(info.min), float(info.max), float(info.tiny), -float(info.tiny),
        float(info.smallest_subnormal), 0.0, -0.0, 1.0, -1.0,
        math.nan, math.inf, -math.inf,
    ]


def make_strided(draw, a: np.ndarray, poison_lo, poison_hi) -> np.ndarray:
    """A view with the same values as ``a`` but with steps, flips and/or a permuted
    memory layout. The memory between the view's elements holds values that would
    change lo/hi if they were read."""
    if draw(st.integers(0, 2)) == 0:
        return a
    nd = a.ndim
    steps = [draw(st.integers(1, 3)) for _ in range(nd)]
    flips = [draw(st.booleans()) for _ in range(nd)]
    perm = draw(st.permutations(range(nd)))
    big_shape = tuple(n * s for n, s in zip(a.shape, steps))
    buf = np.empty(big_shape, dtype=a.dtype)
    flat = buf.reshape(-1)
    flat[0::2] = poison_lo
    flat[1::2] = poison_hi
    buf = np.ascontiguousarray(buf.transpose(perm)).transpose(np.argsort(perm))
    view = buf[tuple(slice(None, None, -s if f else s) for s, f in zip(steps, flips))]
    assert view.shape == a.shape
    view[...] = a
    return view


def poison(dt: np.dtype):
    dt = np.dtype(dt)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return info.min, info.max
    info = np.finfo(dt)
    if dt.itemsize == 8:  # keep hi - lo finite, so reading the poison shows as a mismatch
        return -1e300, 1e300
    return info.min, info.max


@st.composite
def value_arrays(draw, dtype=None, max_dims=4, max_side=6):
    dt = draw(st.sampled_from(ALL_DTYPES)) if dtype is None else np.dtype(dtype)
    native = dt.newbyteorder("=")
    shape = draw(array_shapes(min_dims=1, max_dims=max_dims, min_side=0, max_side=max_side))
    how = draw(st.sampled_from(["any", "extremes", "constant", "narrow"]))
    if how == "any":
        kw = {}
        if dt.kind == "f":
            kw = dict(allow_nan=True, allow_infinity=True, allow_subnormal=True)
        elements = from_dtype(native, **kw)
        if dt.kind == "f" and draw(st.booleans()):
            # bounded values: hi - lo stays finite even in float64
            bound = 6e4 if native.itemsize == 2 else 1e6
            elements = st.floats(-bound, bound, width=8 * native.itemsize, allow_nan=False)
        a = draw(arrays(native, shape, elements=elements, fill=st.nothing()))
    elif how == "extremes":
        vals = extremes(dt)
        if dt.kind == "f" and dt.itemsize == 8 and draw(st.booleans()):
            vals = [v for v in vals if not (math.isfinite(v) and abs(v) > 1e300)]
        idx = draw(arrays(np.int8, shape, elements=st.integers(0, len(vals) - 1), fill=st.nothing()))
        a = np.array(vals, dtype=object)[idx].astype(native) if idx.size else np.zeros(shape, native)
    elif how == "constant":
        v = draw(st.sampled_from(extremes(dt)))
        a = np.full(shape, v, dtype=native)
        if a.size and draw(st.booleans()):  # a constant plus non-finite values
            if dt.kind == "f":
                a.reshape(-1)[0] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    else:  # narrow: a small range somewhere in the dtype's range (ceil rounding matters)
        if dt.kind in "iu":
            info = np.iinfo(native)
            base = draw(st.integers(int(info.min), int(info.max)))
            span = draw(st.integers(0, 600))
            lo = max(int(info.min), base - span)
            hi = min(int(info.max), base + span)
            elements = st.integers(lo, hi)
        else:
            base = draw(st.floats(-1e4, 1e4, width=8 * native.itemsize))
            span = draw(st.sampled_from([1e-3, 0.5, 1.0, 255.0, 1000.0]))
            lo = float(native.type(base - span))  # representable at the dtype's width
            hi = float(native.type(base + span))
            elements = st.floats(lo, hi, width=8 * native.itemsize, allow_nan=False)
        a = draw(arrays(native, shape, elements=elements, fill=st.nothing()))
    a = a.astype(dt)  # byte order
    return make_strided(draw, a, *poison(dt))


def check_against_reference(a):
    before = np.array(a, copy=True)
    try:
        expected = ref.normalize_ref(a)
    except ValueError:
        with pytest.raises(ValueError):
            sf.normalize(a)
        return None
    got = sf.normalize(a)
    assert isinstance(got, np.ndarray)
    assert got.dtype == np.uint8, got.dtype
    assert got.shape == a.shape, (got.shape, a.shape)
    if not np.array_equal(got, expected):
        bad = np.argwhere(got != expected)[:5]
        detail = [
            (tuple(int(i) for i in ix), a[tuple(ix)].item(), int(got[tuple(ix)]), int(expected[tuple(ix)]))
            for ix in bad
        ]
        raise AssertionError(
            f"normalize differs for dtype {a.dtype} shape {a.shape}: "
            f"(index, value, got, expected) {detail}"
        )
    np.testing.assert_array_equal(a, before, err_msg="normalize modified its input")
    return got


# --------------------------------------------------------------------------------------
# the reference on cases with known answers
# --------------------------------------------------------------------------------------


def test_reference_integer_known_values():
    a = np.array([0, 1, 2, 1000], dtype=np.int32)
    # ceil(255*1/1000) = 1, ceil(255*2/1000) = ceil(0.51) = 1
    assert ref.normalize_ref(a).tolist() == [0, 1, 1, 255]
    a = np.array([10, 11, 12], dtype=np.uint8)
    assert ref.normalize_ref(a).tolist() == [0, 128, 255]  # ceil(127.5) = 128
    a = np.arange(256, dtype=np.uint8)
    assert ref.normalize_ref(a).tolist() == list(range(256))
    a = np.array([-5, -5, -5], dtype=np.int16)
    assert ref.normalize_ref(a).tolist() == [0, 0, 0]


def test_reference_integer_extremes_exact():
    big = np.array([0, 2**64 - 1, 1, 2**63], dtype=np.uint64)
    # d = 2**64-1: ceil(255/d) = 1; ceil(255*2**63/d) = 128 (just above 127.5)
    assert ref.normalize_ref(big).tolist() == [0, 255, 1, 128]
    signed = np.array([-(2**63), 2**63 - 1, 0, -1], dtype=np.int64)
    assert ref.normalize_ref(signed).tolist() == [0, 255, 128, 128]
    # 255*(2**64-2)/(2**64-1) = 254.99999... -> 255
    near = np.array([0, 2**64 - 2, 2**64 - 1], dtype=np.uint64)
    assert ref.normalize_ref(near).tolist() == [0, 255, 255]
    # cases a double cannot resolve: d = 2**56*255 + 1
    d = 2**56 * 255 + 1
    a = np.array([0, 2**56, d], dtype=np.uint64)
    # 255*2**56 / d is just below 1 -> 1
    assert ref.normalize_ref(a).tolist() == [0, 1, 255]
    x = 2**56 * 254 + 1  # 255*x/d = 254.000... slightly above 254 -> 255
    assert (255 * x + d - 1) // d == 255
    a = np.array([0, x, d], dtype=np.uint64)
    assert ref.normalize_ref(a).tolist() == [0, 255, 255]
    assert float(255.0 * float(x) / float(d)) == 254.0  # doubles would say 254


def test_reference_float_known_values():
    a = np.array([math.nan, math.inf, -math.inf, 1.0, 2.0, 1.5], dtype=np.float64)
    assert ref.normalize_ref(a).tolist() == [0, 0, 0, 0, 255, 128]
    a = np.array([math.nan, math.inf, -math.inf], dtype=np.float32)
    assert ref.normalize_ref(a).tolist() == [0, 0, 0]
    a = np.array([3.0, 3.0, math.nan], dtype=np.float16)
    assert ref.normalize_ref(a).tolist() == [0, 0, 0]
    # t computed first, then t*255.0, then ceil: 0.1 -> (0.1/1)*255 = 25.500000000000004
    a = np.array([0.0, 0.1, 1.0])
    assert ref.normalize_ref(a).tolist() == [0, 26, 255]
    # float32 extremes: hi - lo is finite in float64
    a = np.array([np.finfo(np.float32).min, np.finfo(np.float32).max, 0], dtype=np.float32)
    assert ref.normalize_ref(a).tolist() == [0, 255, 128]
    with pytest.raises(ValueError):
        ref.normalize_ref(np.array([-1e308, 1e308]))
    assert ref.normalize_ref(np.zeros((0, 3), np.float32)).shape == (0, 3)


def test_reference_byte_order():
    a = np.array([[1, 7, 300], [-2, 5, 9]], dtype=">i4")
    assert ref.normalize_ref(a).tolist() == ref.normalize_ref(a.astype("<i4")).tolist()
    f = np.array([0.25, 1e3, math.nan], dtype=">f8")
    assert ref.normalize_ref(f).tolist() == ref.normalize_ref(f.astype("<f8")).tolist()


def test_reference_display_slice_and_aspect():
    vol = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    for axis in range(3):
        for k in range(vol.shape[axis]):
            s = np.take(vol, k, axis=axis)
            d = ref.display_slice_ref(vol, axis, k)
            assert d.shape == s.shape[::-1]
            # pixel (r, c) of the saved image is S[W-1-c, H-1-r] where S is (W, H)
            w_, h_ = s.shape
            for r in range(h_):
                for c in range(w_):
                    assert d[r, c] == s[w_ - 1 - c, h_ - 1 - r]
    assert ref.display_slice_ref(vol, 2, 0).tolist() == [[20, 8], [16, 4], [12, 0]]
    assert ref.keep_slice_ref(10, 20) and ref.keep_slice_ref(20, 10) and ref.keep_slice_ref(7, 7)
    assert not ref.keep_slice_ref(10, 21) and not ref.keep_slice_ref(30, 14)
    assert ref.keep_slice_ref(1, 2) and not ref.keep_slice_ref(1, 3)


# --------------------------------------------------------------------------------------
# the package against the reference
# --------------------------------------------------------------------------------------


@prop
@given(a=value_arrays())
def test_normalize_matches_reference(a):
    check_against_reference(a)


@prop
@given(data=st.data(), code=st.sampled_from(INT_CODES), order=st.sampled_from("<>"))
def test_normalize_every_integer_dtype(data, code, order):
    a = data.draw(value_arrays(dtype=np.dtype(code).newbyteorder(order)))
    check_against_reference(a)


@prop
@given(data=st.data(), code=st.sampled_from(FLOAT_CODES), order=st.sampled_from("<>"))
def test_normalize_every_float_dtype(data, code, order):
    a = data.draw(value_arrays(dtype=np.dtype(code).newbyteorder(order)))
    check_against_reference(a)


@pytest.mark.parametrize("dt", ALL_DTYPES, ids=lambda d: d.str)
@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0), (2, 0, 4), (0, 0, 0, 0), (1, 2, 0, 3)])
def test_normalize_empty(dt, shape):
    a = np.zeros(shape, dtype=dt)
    got = sf.normalize(a)
    assert got.dtype == np.uint8 and got.shape == shape


@pytest.mark.parametrize("dt", ALL_DTYPES, ids=lambda d: d.str)
def test_normalize_extremes_and_constants(dt):
    vals = extremes(dt)
    a = np.array(vals, dtype=object).astype(dt.newbyteorder("=")).astype(dt)
    check_against_reference(a)
    for v in vals:
        for shape in [(1,), (5,), (2, 3), (2, 1, 3), (1, 2, 2, 2)]:
            c = np.full(shape, v, dtype=dt.newbyteorder("=")).astype(dt)
            got = check_against_reference(c)
            assert got is not None and not got.any()  # constant or no finite value -> 0
    if dt.kind == "f":
        a = np.array([math.nan, -math.inf, math.inf, math.nan], dtype=dt)
        assert not check_against_reference(a).any()
        a = np.array([math.nan, 2.0, math.inf, 6.0, -math.inf], dtype=dt)
        assert check_against_reference(a).tolist() == [0, 0, 0, 255, 0]


def test_normalize_int64_uint64_exact():
    cases = [
        np.array([0, 2**64 - 1, 1, 2**63], dtype=np.uint64),
        np.array([-(2**63), 2**63 - 1, 0, -1, 1], dtype=np.int64),
        np.array([0, 2**56 * 254 + 1, 2**56 * 255 + 1], dtype=np.uint64),
        np.array([0, 2**56, 2**56 * 255 + 1], dtype=np.uint64),
        np.array([-(2**63), -(2**63) + 2**56 * 254 + 1, -(2**63) + 2**56 * 255 + 1], dtype=">i8"),
    ]
    for a in cases:
        check_against_reference(a)
    got = sf.normalize(np.array([0, 2**56 * 254 + 1, 2**56 * 255 + 1], dtype=np.uint64))
    assert got.tolist() == [0, 255, 255]


def test_normalize_overflow_raises():
    for dt in ("<f8", ">f8"):
        with pytest.raises(ValueError):
            sf.normalize(np.array([-1e308, 1e308], dtype=dt))
        with pytest.raises(ValueError):
            sf.normalize(np.array([[np.finfo(np.float64).min], [np.finfo(np.float64).max]], dtype=dt))
    # no overflow: huge but same sign, or non-finite values around
    check_against_reference(np.array([1e308, 1.7e308, math.inf, -math.inf, math.nan]))
    check_against_reference(np.array([-1e308, 0.0, 7e307]))


@pytest.mark.parametrize("dt", ALL_DTYPES, ids=lambda d: d.str)
def test_normalize_larger_arrays(dt):
    # bigger buffers, so that vectorised / parallel / blocked code paths run
    rng = np.random.default_rng(7)
    native = dt.newbyteorder("=")
    shape = (7, 33, 65)
    if dt.kind in "iu":
        info = np.iinfo(native)
        a = rng.integers(int(info.min), int(info.max), size=shape, dtype=native, endpoint=True)
        narrow = rng.integers(0, 1000, size=shape).astype(native)
    else:
        a = (rng.standard_normal(shape) * 1000).astype(native)
        a.reshape(-1)[rng.integers(0, a.size, 50)] = np.nan
        a.reshape(-1)[rng.integers(0, a.size, 20)] = np.inf
        a.reshape(-1)[rng.integers(0, a.size, 20)] = -np.inf
        narrow = (rng.random(shape) * 3 + 100).astype(native)
    for arr in (a, narrow):
        arr = arr.astype(dt)
        check_against_reference(arr)
        check_against_reference(arr[::-1, 1::2, ::3])
        check_against_reference(arr.transpose(2, 0, 1))
        check_against_reference(arr[..., 5])
        check_against_reference(arr.reshape(7, 33, 5, 13))


def test_normalize_bad_input():
    # not specified by SPEC beyond "integer or float dtype"; any user expects a rejection
    for bad in (np.zeros(3, dtype=object), np.zeros(3, dtype=complex)):
        with pytest.raises((TypeError, ValueError)):
            sf.normalize(bad)


def _unaligned(a: np.ndarray) -> np.ndarray:
    buf = bytearray(a.nbytes + 1)
    u = np.frombuffer(buf, dtype=a.dtype, offset=1, count=a.size).reshape(a.shape)
    u[...] = a
    return u


@pytest.mark.parametrize("dt", ALL_DTYPES, ids=lambda d: d.str)
def test_normalize_broadcast_readonly_unaligned(dt):
    rng = np.random.default_rng(3)
    base = (rng.standard_normal((4, 5)) * 100).astype(dt.newbyteorder("=")).astype(dt)
    check_against_reference(np.broadcast_to(base[:, :1], (4, 6)))  # zero stride
    check_against_reference(np.broadcast_to(base, (3, 4, 5)))
    ro = base.copy()
    ro.flags.writeable = False
    check_against_reference(ro)
    check_against_reference(_unaligned(base))
    check_against_reference(_unaligned(base)[::-1, ::2])


def test_normalize_into_out():
    """out= takes a writable uint8 array of the input's shape and memory order and
    returns it, filled as a new array would be."""
    rng = np.random.default_rng(4)
    a = rng.integers(-1024, 3071, size=(5, 6, 7)).astype(np.int16)
    for x in (a, np.asfortranarray(a), a[:, ::2]):
        order = "F" if x.flags.f_contiguous and not x.flags.c_contiguous else "C"
        out = np.full(x.shape, 7, np.uint8, order=order)
        assert sf.normalize(x, out=out) is out
        np.testing.assert_array_equal(out, ref.normalize_ref(x))


def test_normalize_out_refusals():
    a = np.arange(12, dtype=np.int16).reshape(3, 4)
    readonly = np.empty((3, 4), np.uint8)
    readonly.flags.writeable = False
    for bad in (np.empty((4, 3), np.uint8), np.empty((3, 4), np.int8), np.empty((3, 4), np.uint8, order="F"),
                np.empty((3, 8), np.uint8)[:, ::2], readonly, [[0] * 4] * 3):
        with pytest.raises(ValueError, match=r"out must be a writable C-ordered uint8 array of the input's shape \(3, 4\)"):
            sf.normalize(a, out=bad)
    u = np.arange(10, dtype=np.uint8)
    with pytest.raises(ValueError, match="out must not share memory with the input"):
        sf.normalize(u, out=u)
    with pytest.raises(ValueError, match="Fortran-ordered"):
        sf.normalize(np.asfortranarray(a), out=np.empty((3, 4), np.uint8))


# --------------------------------------------------------------------------------------
# every vector path: SAMED2D_SIMD caps the path normalize takes
# --------------------------------------------------------------------------------------

SIMD_PATHS = _core.simd_paths()
VECTOR_CODES = ("i2", "u2", "i4", "u4", "f4")  # the dtypes with vector paths, in native order


@contextlib.contextmanager
def simd_setting(value: str):
    """SAMED2D_SIMD set to ``value`` inside the block, as it was after."""
    before = os.environ.get("SAMED2D_SIMD")
    os.environ["SAMED2D_SIMD"] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ["SAMED2D_SIMD"]
        else:
            os.environ["SAMED2D_SIMD"] = before


@contextlib.contextmanager
def simd(path: str):
    with simd_setting(path):
        assert _core.simd_path() == path
        yield


def check_every_path(a: np.ndarray) -> None:
    for path in SIMD_PATHS:
        with simd(path):
            check_against_reference(a)


def test_simd_paths_and_the_cap():
    assert SIMD_PATHS[0] == "portable" and set(SIMD_PATHS) <= {"portable", "sse2", "avx2"}
    if platform.machine().lower() in ("x86_64", "amd64"):
        assert "sse2" in SIMD_PATHS  # the x86-64 baseline
    assert _core.simd_path() == os.environ.get("SAMED2D_SIMD", SIMD_PATHS[-1])
    with simd("portable"):
        assert _core.simd_path() == "portable"
    with simd_setting("avx9"), pytest.raises(ValueError, match="SAMED2D_SIMD=avx9: expected portable, sse2 or avx2"):
        sf.normalize(np.arange(3))


@pytest.mark.parametrize("path", SIMD_PATHS)
@prop
@given(data=st.data(), code=st.sampled_from(VECTOR_CODES), order=st.sampled_from("<>"))
def test_every_path_matches_reference(path, data, code, order):
    a = data.draw(value_arrays(dtype=np.dtype(code).newbyteorder(order), max_dims=2, max_side=24))
    with simd(path):
        check_against_reference(a)


@pytest.mark.parametrize("code", ["u2", "i2"])
def test_every_path_every_16_bit_offset(code):
    """Every offset u of the widest range, and of ranges d at the edges of the float
    quotient's exactness argument (normalize_simd.hpp), in an order no path aligns to."""
    info = np.iinfo(code)
    rng = np.random.default_rng(11)
    check_every_path(rng.permutation(np.arange(int(info.min), int(info.max) + 1)).astype(code))
    for d in (1, 2, 3, 254, 255, 256, 257, 4095, 32767, 32768, 65533, 65534):
        lo = int(info.min) + int(rng.integers(0, int(info.max) - int(info.min) - d + 1))
        check_every_path(rng.permutation(np.arange(lo, lo + d + 1)).astype(code))


@pytest.mark.parametrize("code", ["i4", "u4"])
@pytest.mark.parametrize("d", [255, 4095, 65535, 65536, 65537, 2**24 + 1, 2**31, 2**32 - 1])
def test_every_path_32_bit_ranges(code, d):
    """The offsets where 255 u / d meets an integer, and next to them, on both sides of
    the switch from the float to the double quotient (d = 2^16)."""
    info = np.iinfo(code)
    rng = np.random.default_rng(d)
    edges = np.arange(256, dtype=np.int64) * d // 255
    u = np.concatenate([edges - 1, edges, edges + 1, rng.integers(0, d + 1, 3001), [0, d]])
    u = u[(u >= 0) & (u <= d)]
    lo = int(info.min) + min(12345, int(info.max) - int(info.min) - d)
    check_every_path(rng.permutation(u + lo).astype(code))


def test_every_path_float32_edges():
    """float32 values at and next to the thresholds between two outputs, for integer
    (CT-like), fractional, tiny and huge ranges, among NaN and infinities. (0, 1e29):
    the float shortcut's product underflows to 0 just above lo, where the output is 1."""
    rng = np.random.default_rng(5)
    for lo, d in ((-1024.0, 4095.0), (0.0, 255.0), (-1.0, 2.0), (0.1, 1e-3), (0.0, 1e29), (-1.0, 2.0**99),
                  (-3e38, 6e38), (1e-40, 3e-39)):
        at = (lo + d * np.arange(256) / 255).astype(np.float32)
        near = np.concatenate([at, np.nextafter(at, np.float32(np.inf)), np.nextafter(at, np.float32(-np.inf))])
        values = np.concatenate([near, [np.nan, np.inf, -np.inf] * 5]).astype(np.float32)
        values = values[~np.isfinite(values) | ((values >= np.float32(lo)) & (values <= np.float32(lo + d)))]
        check_every_path(rng.permutation(values))


@pytest.mark.parametrize("code", VECTOR_CODES)
def test_every_path_every_length_and_offset(code):
    """Lengths around the vector widths, starting at every byte offset of a vector."""
    rng = np.random.default_rng(9)
    base = (rng.standard_normal(200) * 300).astype(code)
    for n in (1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 65):
        for start in range(0, 9):
            check_every_path(base[start:start + n])


# --------------------------------------------------------------------------------------
# the release preset's per-slice formula (SPEC section 7), in C++
# --------------------------------------------------------------------------------------


def release_reference(x: np.ndarray, slope: float, inter: float) -> np.ndarray:
    """SPEC section 7 in numpy: y = x * slope + inter in float64, then the formula."""
    with np.errstate(over="ignore", invalid="ignore"):
        y = x.astype(np.float64) * slope + inter
    finite = np.isfinite(y)
    out = np.zeros(y.shape, np.uint8)
    if finite.any():
        lo, hi = y[finite].min(), y[finite].max()
        with np.errstate(over="ignore"):
            if not np.isfinite(hi - lo):
                return None  # the kernel raises
        with np.errstate(invalid="ignore"):
            out[finite] = (((y[finite] - lo) / (hi - lo + 1e-8)) * 255).astype(np.uint8)
    return out


@prop
@given(a=value_arrays(max_dims=2, max_side=9), scaling=st.sampled_from([(1.0, 0.0), (0.5, 10.0), (2.0, -1024.0),
                                                                       (-0.3, 3.0), (1e-6, 0.0)]),
       view=st.sampled_from(["as is", "flipped", "transposed", "every other"]))
def test_normalize_release_equals_the_formula(a, scaling, view):
    """Every dtype and byte order, 1xN, Nx1, empty, non-contiguous and negative strides,
    NaN and infinities, with nibabel-style scaling."""
    a = a.reshape(1, -1) if a.ndim == 1 else a
    a = {"as is": a, "flipped": a[::-1, ::-1], "transposed": a.T, "every other": a[::2, ::2]}[view]
    expected = release_reference(a, *scaling)
    if expected is None:
        with pytest.raises(ValueError, match="overflows a double"):
            normalize_release(a, *scaling)
        return
    got = normalize_release(a, *scaling)
    assert got.dtype == np.uint8 and got.shape == a.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("path", SIMD_PATHS)
@prop
@given(data=st.data(), code=st.sampled_from(VECTOR_CODES), order=st.sampled_from("<>"),
       scaling=st.sampled_from([(1.0, 0.0), (0.5, 10.0), (2.0, -1024.0), (-0.3, 3.0), (1e-6, 0.0), (1e300, 0.0)]),
       view=st.sampled_from(["as is", "rows of a wider array", "flipped"]))
def test_every_path_release_equals_the_formula(path, data, code, order, scaling, view):
    """The release kernel's vector paths (rows in a run of native int16, uint16, int32,
    uint32 or float32) against numpy, lengths around the vector widths, NaN and infinities,
    scalings that overflow to infinity."""
    a = data.draw(value_arrays(dtype=np.dtype(code).newbyteorder(order), max_dims=2, max_side=24))
    a = a.reshape(1, -1) if a.ndim == 1 else a
    if view == "rows of a wider array":
        wide = np.zeros((a.shape[0], a.shape[1] + 3), a.dtype)
        wide[:, :a.shape[1]] = a
        a = wide[:, :a.shape[1]]
    elif view == "flipped":
        a = a[::-1, ::-1]
    expected = release_reference(a, *scaling)
    with simd(path):
        if expected is None:
            with pytest.raises(ValueError, match="overflows a double"):
                normalize_release(a, *scaling)
            return
        np.testing.assert_array_equal(normalize_release(a, *scaling), expected)
