"""Self-Min-Max normalisation to 8 bits (SPEC section 2)."""

from __future__ import annotations

import numpy as np

from . import _core


def normalize(array, out: np.ndarray | None = None) -> np.ndarray:
    """``ceil(255 * (x - lo) / (hi - lo))`` over the whole array, as uint8 of the same shape.

    Any integer or float16/32/64 dtype, either byte order. NaN and +-Inf map to
    0; a constant array, or one without finite values, maps to all 0. Raises
    ValueError when ``hi - lo`` overflows a double.

    ``out``: a writable uint8 array of the same shape (Fortran-ordered for a
    Fortran-ordered input, else C-ordered) to write into instead of a new one, so a
    loop over volumes of one size reuses its memory. It is returned.

    int16, uint16, int32, uint32 and float32 in native byte order take a vector path
    (SSE2 or AVX2, chosen for the CPU); ``SAMED2D_SIMD=portable|sse2`` caps the choice.
    Every path gives the same bytes.
    """
    return _core.normalize(np.asarray(array), out)


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
