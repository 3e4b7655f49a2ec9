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


def normalize_release(array) -> np.ndarray:
    """The release preset's per-slice normalisation (SPEC section 7), as uint8.

    ``((x - min) / (max - min + 1e-8) * 255)`` in float64, in that order,
    truncated; min and max over the finite values; NaN and +-Inf map to 0.
    Raises ValueError when ``max - min`` overflows a double, as section 2 does.
    """
    x = np.asarray(array, dtype=np.float64)
    finite = np.isfinite(x)
    out = np.zeros(x.shape, dtype=np.uint8)
    if not finite.any():
        return out
    lo, hi = float(x[finite].min()), float(x[finite].max())
    if not np.isfinite(hi - lo):  # Python floats: overflow gives inf without a warning
        raise ValueError("normalize_release: value range too large: max - min overflows a double")
    with np.errstate(invalid="ignore"):
        scaled = (x - lo) / (hi - lo + 1e-8) * 255
    out[finite] = scaled[finite].astype(np.uint8)
    return out
