"""Slices of a 3D volume in the saved orientation (SPEC section 3)."""

from __future__ import annotations

from typing import Iterator, List, Sequence, Tuple

import numpy as np

from . import _core

# Slices copied per C++ call: enough to read a Fortran-ordered volume's x and y
# slices in memory order, small enough to stay in cache (32 x 512 x 512 bytes).
BATCH = 32


def display_view(volume: np.ndarray, axis: int, index: int) -> np.ndarray:
    """``S.T[::-1, ::-1]`` of slice ``index`` along ``axis``: a view, no copy."""
    where = [slice(None)] * 3
    where[axis] = index
    return volume[tuple(where)].T[::-1, ::-1]


def display_slices(volume: np.ndarray, axis: int, start: int, stop: int) -> np.ndarray:
    """Slices ``start..stop-1`` in display orientation, as one dense (n, rows, cols) array."""
    return _core.display_slices(volume, axis, start, stop)


def keep_slice(height: int, width: int) -> bool:
    """The paper's aspect filter: drop slices whose short edge is under half the long one."""
    return 2 * min(height, width) >= max(height, width)


def kept_axes(shape: Tuple[int, int, int]) -> List[int]:
    """The axes whose slices pass the aspect filter (all slices of an axis share a shape)."""
    return [a for a in range(3) if keep_slice(*[shape[b] for b in range(3) if b != a])]


def iter_display_slices(volumes: Sequence[np.ndarray], axis: int) -> Iterator[Tuple[int, List[np.ndarray]]]:
    """(k, [slice k of each volume]) along ``axis``, copied a batch at a time."""
    n = volumes[0].shape[axis]
    for start in range(0, n, BATCH):
        stop = min(n, start + BATCH)
        batches = [display_slices(v, axis, start, stop) for v in volumes]
        for j in range(stop - start):
            yield start + j, [b[j] for b in batches]
