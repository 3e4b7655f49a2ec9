"""Slices of a 3D volume in the saved orientation (SPEC section 3)."""

from __future__ import annotations

from typing import Iterator, Tuple

import numpy as np

from . import _core
from .naming import dim_slice_id


def display_view(volume: np.ndarray, axis: int, index: int) -> np.ndarray:
    """``S.T[::-1, ::-1]`` of slice ``index`` along ``axis``: a view, no copy."""
    where = [slice(None)] * 3
    where[axis] = index
    return volume[tuple(where)].T[::-1, ::-1]


def display_slice(volume: np.ndarray, axis: int, index: int) -> np.ndarray:
    """The same slice as a dense copy (the C++ core reads it through strides)."""
    return _core.display_slice(volume, axis, index)


def keep_slice(height: int, width: int) -> bool:
    """The paper's aspect filter: drop slices whose short edge is under half the long one."""
    return 2 * min(height, width) >= max(height, width)


def kept_slices(shape: Tuple[int, int, int]) -> Iterator[Tuple[int, int, str]]:
    """(axis, index, dim_slice_id) of every slice that passes the aspect filter, in SPEC order."""
    for axis in range(3):
        others = [shape[a] for a in range(3) if a != axis]
        if not keep_slice(others[1], others[0]):
            continue
        for index in range(shape[axis]):
            yield axis, index, dim_slice_id(axis, index, shape[axis])
