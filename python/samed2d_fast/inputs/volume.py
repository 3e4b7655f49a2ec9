"""A volume as read (stored axes) plus its transform to RAS+ (SPEC section 1), and the
grid check between an image and its label, whatever formats they came in."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from nibabel import orientations

from .files import InputError

AFFINE_TOLERANCE = 1e-3


@dataclass
class Volume:
    """An array in its stored layout plus the transform to RAS+."""

    path: str
    data: np.ndarray          # stored order, 3D or 4D (X, Y, Z[, C])
    ornt: np.ndarray          # nibabel orientation to the closest canonical RAS+
    affine_ras: np.ndarray    # the affine after reorientation

    def ras(self, array: np.ndarray | None = None) -> np.ndarray:
        """``array`` (default: the data) reoriented to RAS+, as a view."""
        return orientations.apply_orientation(self.data if array is None else array, self.ornt)

    @property
    def ras_shape(self) -> tuple:
        """The spatial shape in RAS+ orientation (of ``ras()``, without making the view)."""
        return tuple(int(self.data.shape[int(i)]) for i in np.argsort(self.ornt[:, 0]))

    @property
    def channels(self) -> int:
        return int(self.data.shape[3]) if self.data.ndim == 4 else 1


def make_volume(data: np.ndarray, affine: np.ndarray, path) -> Volume:
    """A Volume of stored ``data`` (trailing axes of length 1 dropped, 2 axes read as
    (X, Y, 1)) with the closest canonical orientation of ``affine``."""
    data = _squeeze_to_3d_or_4d(data, path)
    ornt, affine_ras = _orientation(np.asarray(affine, dtype=np.float64).tobytes(), data.shape[:3])
    return Volume(str(path), data, ornt.copy(), affine_ras.copy())


@lru_cache(maxsize=64)
def _orientation(affine: bytes, shape: tuple):
    """The orientation to RAS+ and the reoriented affine, once per affine and grid: the
    mask files of a label set share one (nibabel's io_orientation takes an SVD)."""
    matrix = np.frombuffer(affine, dtype=np.float64).reshape(4, 4)
    ornt = orientations.io_orientation(matrix)
    return ornt, matrix @ orientations.inv_ornt_aff(ornt, shape)


def _squeeze_to_3d_or_4d(data: np.ndarray, path) -> np.ndarray:
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 2:
        data = data[:, :, np.newaxis]
    if data.ndim not in (3, 4):
        raise InputError(f"{path}: expected a 2D, 3D or 4D volume, got shape {data.shape}")
    return data


def check_label_volume(volume: Volume) -> None:
    if volume.data.ndim != 3:
        raise InputError(f"{volume.path}: a label map must be 3D, got shape {volume.data.shape}")


def check_same_grid(image: Volume, label: Volume) -> None:
    shape_i, shape_l = image.ras_shape, label.ras_shape
    if shape_i != shape_l:
        raise InputError(
            f"{label.path}: label grid {shape_l} differs from image grid {shape_i} ({image.path})"
        )
    diff = float(np.max(np.abs(image.affine_ras - label.affine_ras)))
    if not diff <= AFFINE_TOLERANCE:
        raise InputError(
            f"{label.path}: label affine differs from the image's by {diff:.3g} ({image.path})"
        )
