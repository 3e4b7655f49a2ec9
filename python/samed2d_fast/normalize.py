"""Self-Min-Max normalisation to 8 bits (SPEC section 2)."""

from __future__ import annotations

import numpy as np

from . import _core


def normalize(array) -> np.ndarray:
    """``ceil(255 * (x - lo) / (hi - lo))`` over the whole array, as uint8 of the same shape.

    Any integer or float16/32/64 dtype, either byte order. NaN and +-Inf map to
    0; a constant array, or one without finite values, maps to all 0. Raises
    ValueError when ``hi - lo`` overflows a double.
    """
    return _core.normalize(np.asarray(array))


def normalize_release(array, slope: float = 1.0, inter: float = 0.0) -> np.ndarray:
    """The release preset's per-slice normalisation (SPEC section 7), as uint8.

    ``((x - min) / (max - min + 1e-8) * 255)`` in float64, in that order,
    truncated, of the values ``x = stored * slope + inter`` (float64, no fused
    multiply-add: what nibabel's ``get_fdata()`` gives); min and max over the
    finite values; NaN and +-Inf map to 0. Any integer or float dtype, either
    byte order, any strides: a 2D slice is read in place. Raises ValueError when
    ``max - min`` overflows a double, as section 2 does.
    """
    x = np.asarray(array)
    if x.dtype == np.bool_:
        x = x.view(np.uint8)
    if x.ndim == 2:
        return _core.normalize_release(x, float(slope), float(inter))
    flat = np.ascontiguousarray(x).reshape(1, -1)  # the range is the whole array's either way
    return _core.normalize_release(flat, float(slope), float(inter)).reshape(x.shape)
