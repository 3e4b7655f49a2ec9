"""The label rules of SPEC section 1, whatever the container: integer values in
[0, 2^32-1], floats rounded within 1e-3, and the 2D rules (grey RGB, binary masks)."""

from __future__ import annotations

import numpy as np

from .files import InputError, plain

MAX_LABEL = 2**32 - 1
LABEL_TOLERANCE = 1e-3


def validate_labels(data: np.ndarray, path) -> np.ndarray:
    """Integer labels in [0, 2^32-1], native byte order; floats rounded within 1e-3."""
    if data.size == 0:
        return data.astype(np.uint8)
    if data.dtype.kind == "b":
        return data.astype(np.uint8)
    if data.dtype.kind == "f":
        return _rounded_labels(data, path)
    if data.dtype.kind not in "iu":
        raise InputError(f"{path}: labels of dtype {data.dtype} are not supported")
    check_label_range(data.min(), data.max(), path)
    if not data.dtype.isnative:
        return data.astype(data.dtype.newbyteorder("="))
    return data


def check_label_range(lo, hi, path) -> None:
    if lo < 0:
        raise InputError(f"{path}: negative label value {plain(lo)}")
    if hi > MAX_LABEL:
        raise InputError(f"{path}: label value {plain(hi)} above 2^32-1")


_LABEL_BLOCK = 1 << 20  # float labels checked and rounded this many values at a time


def _rounded_labels(data: np.ndarray, path) -> np.ndarray:
    """Float labels rounded to the nearest integer, in the smallest unsigned dtype that
    holds them. Done a block of first-axis slices at a time, so no float temporary of
    the volume's size is made; the first bad value in C order is the one named."""
    step = max(1, _LABEL_BLOCK // data[0].size)
    lo = hi = None
    for start in range(0, data.shape[0], step):
        block = data[start:start + step]
        rounded = np.rint(block)
        bad = ~(np.abs(block - rounded) <= LABEL_TOLERANCE)
        if bad.any():
            raise InputError(f"{path}: label value {plain(block[bad].flat[0])} is not an integer")
        lo = rounded.min() if lo is None else min(lo, rounded.min())
        hi = rounded.max() if hi is None else max(hi, rounded.max())
    check_label_range(lo, hi, path)
    out = np.empty_like(data, dtype=np.min_scalar_type(int(hi)))
    for start in range(0, data.shape[0], step):
        out[start:start + step] = np.rint(data[start:start + step])
    return out


def grey_label_image(values: np.ndarray, path) -> np.ndarray:
    """A 2D label image of one channel: an RGB(A) one must have three equal channels."""
    if values.ndim == 3:
        rgb = values[..., :3]
        if rgb.shape[2] != 3 or not (np.array_equal(rgb[..., 0], rgb[..., 1])
                                     and np.array_equal(rgb[..., 0], rgb[..., 2])):
            raise InputError(f"{path}: RGB label image is not grey (its channels differ)")
        values = rgb[..., 0]
    return values


def label_image_2d(values: np.ndarray, path, binary) -> np.ndarray:
    """Validated 2D labels; a binary mask (255 means label 1) when ``binary``, or, where the
    caller does not say (None), when its only non-zero value is 255."""
    labels = validate_labels(values, path)
    if binary is None:
        binary = is_binary_mask(labels)
    if binary:
        if not is_binary_mask(labels) and labels.any():
            raise InputError(f"{path}: binary mask holds values other than 0 and 255")
        return (labels == 255).astype(np.uint8)
    return labels


def is_binary_mask(labels: np.ndarray) -> bool:
    """True when the only non-zero value is 255."""
    nonzero = labels[labels != 0]
    return nonzero.size > 0 and bool(np.all(nonzero == 255))
