"""Display-orientation slices (SPEC section 3): the C++ strided copy equals the reference."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference import display_slice_ref, keep_slice_ref
from samed2d_fast.slicing import display_slices, display_view, iter_display_slices, kept_axes

EXAMPLES = int(os.environ.get("SAMED2D_HYPOTHESIS_EXAMPLES", "200"))

volumes = hnp.arrays(
    dtype=st.sampled_from([np.uint8, np.int16, np.dtype(">i2"), np.float32, np.float64, np.uint64]),
    shape=st.tuples(*[st.integers(1, 7)] * 3),
    elements=st.integers(0, 100),
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(vol=volumes, order=st.permutations([0, 1, 2]), flip=st.booleans(), data=st.data())
def test_display_slice_equals_reference(vol, order, flip, data):
    view = np.transpose(vol, order)
    if flip:
        view = view[::-1, :, ::2]
    axis = data.draw(st.integers(0, 2))
    k = data.draw(st.integers(0, view.shape[axis] - 1))
    stop = data.draw(st.integers(k + 1, view.shape[axis]))
    got = display_slices(view, axis, k, stop)
    assert got.dtype == view.dtype and got.flags.c_contiguous and len(got) == stop - k
    for j in range(stop - k):
        np.testing.assert_array_equal(got[j], display_slice_ref(view, axis, k + j))
    np.testing.assert_array_equal(display_view(view, axis, k), display_slice_ref(view, axis, k))


def test_iter_display_slices_crosses_batches():
    vol = np.arange(5 * 6 * 70, dtype=np.int16).reshape(5, 6, 70, order="F")
    seen = [(k, s[0], s[1]) for k, s in iter_display_slices([vol, vol + 1], 2)]
    assert [k for k, _, _ in seen] == list(range(70))
    for k, a, b in seen:
        np.testing.assert_array_equal(a, display_slice_ref(vol, 2, k))
        np.testing.assert_array_equal(b, a + 1)


def test_kept_axes_follow_the_aspect_filter():
    shape = (10, 4, 6)
    expected = [a for a in range(3) if keep_slice_ref(*[shape[b] for b in range(3) if b != a])]
    assert kept_axes(shape) == expected == [0, 1]


def test_display_slice_errors():
    vol = np.zeros((2, 3, 4))
    with pytest.raises(ValueError):
        display_slices(vol[0], 0, 0, 1)
    with pytest.raises(IndexError):
        display_slices(vol, 1, 3, 4)
    with pytest.raises(IndexError):
        display_slices(vol, 1, 2, 2)
    with pytest.raises(ValueError):
        display_slices(vol, 3, 0, 1)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.uint64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_display_slices_full_tiles(dtype, order):
    """Shapes larger than the 16 x 64 transpose tile, with partial tiles at the ends."""
    vol = np.asarray(np.random.default_rng(0).integers(0, 200, (70, 37, 150)), dtype=dtype, order=order)
    for axis in range(3):
        n = vol.shape[axis]
        got = display_slices(vol, axis, 3, n)
        for j in (0, 1, n // 2, n - 4):
            np.testing.assert_array_equal(got[j], display_slice_ref(vol, axis, 3 + j))
