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
