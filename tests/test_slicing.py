"""Display-orientation slices (SPEC section 3): the C++ strided copy equals the reference."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference import display_slice_ref, keep_slice_ref
from samed2d_fast.slicing import display_slice, display_view, kept_slices

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
    expected = display_slice_ref(view, axis, k)
    got = display_slice(view, axis, k)
    assert got.dtype == view.dtype and got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(display_view(view, axis, k), expected)


def test_kept_slices_follow_the_aspect_filter():
    shape = (10, 4, 6)
    got = list(kept_slices(shape))
    expected_axes = [a for a in range(3) if keep_slice_ref(*[shape[b] for b in range(3) if b != a])]
    assert sorted({a for a, _, _ in got}) == expected_axes
    assert expected_axes == [0, 1]
    assert [s for a, _, s in got if a == 0][:2] == ["x_0000", "x_0001"]
    assert len(got) == shape[0] + shape[1]


def test_display_slice_errors():
    vol = np.zeros((2, 3, 4))
    with pytest.raises(ValueError):
        display_slice(vol[0], 0, 0)
    with pytest.raises(IndexError):
        display_slice(vol, 1, 3)
    with pytest.raises(ValueError):
        display_slice(vol, 3, 0)
