"""Miniature data set folders for the recipe tests: the real layout, file names, dtypes
and label values of a public data set, with a few tiny cases.

A miniature is a dict of relative paths to what is written there (``Volume``, ``Label``,
``Mask``, ``Image2D``, ``Mask2D``, ``Series``, ``Other``) and the names the conversion must
give. Every volume of a miniature shares one grid (``SHAPE``, ``AFFINE``), so any image and
label pair; the writer picks the container by the path's suffix (NIfTI, MetaImage, NRRD,
Pillow's formats; a path ending in ``/`` is a DICOM series folder).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import nibabel as nib
import numpy as np
from PIL import Image

from formats_helpers import write_dicom_series, write_itk

SHAPE = (24, 22, 14)  # x, y, z: every axis's slices pass the aspect filter
AFFINE = np.diag([0.8, 0.8, 2.5, 1.0])
SIZE_2D = (40, 32)    # width, height


@dataclass(frozen=True)
class Volume:
    """An image volume of ``dtype`` (``channels`` > 1: a 4D file)."""
    dtype: str = "int16"
    channels: int = 1


@dataclass(frozen=True)
class Label:
    """A label map holding each of ``values`` as a block of its own (up to 16 values)."""
    values: Tuple[int, ...]
    dtype: str = "uint8"


@dataclass(frozen=True)
class Mask:
    """One class file of a label set: ``value`` (default 1) in block ``slot``, else 0."""
    slot: int
    value: int = 1
    dtype: str = "uint8"


@dataclass(frozen=True)
class Series:
    """A DICOM series folder (int16 CT) on the miniature's grid."""
    modality: str = "CT"


@dataclass(frozen=True)
class Image2D:
    """A 2D image in Pillow ``mode`` (``RGB``, ``L``)."""
    mode: str = "RGB"


@dataclass(frozen=True)
class Mask2D:
    """A 2D mask holding each of ``values`` as a block of its own; ``mode`` L or P.
    ``save``: keyword arguments for Pillow's ``Image.save``, to write a file as the data
    set ships it (DRIVE's GIFs: ``(("optimize", False),)`` keeps the full 256-entry grey
    palette, so Pillow reads the file back as mode L with values 0 and 255)."""
    values: Tuple[int, ...] = (255,)
    mode: str = "L"
    save: Tuple[Tuple[str, object], ...] = ()


@dataclass(frozen=True)
class Other:
    """Any other file of the download (a CSV, a README): the recipe must leave it alone."""
    text: str = "not an image\n"


@dataclass(frozen=True)
class Miniature:
    files: Dict[str, object]
    cases: Sequence[str]            # the case fields of the output, sorted
    modalities: Sequence[str]       # the modality fields of the output, sorted
    class_ids: Sequence[str]        # the class fields of the output's masks, sorted
    unlabelled: int = 0             # image files without a label
    args: Tuple[str, ...] = ()      # more command-line arguments
    dataset: Optional[str] = None   # the data set field (default: the recipe's data set, cleaned)


def _block(k: int):
    """The k-th of 16 disjoint blocks of the grid (x, y), through the middle slices."""
    assert 0 <= k < 16, "a miniature holds at most 16 label values"
    x, y = 1 + 5 * (k % 4), 1 + 5 * (k // 4)
    return slice(x, x + 4), slice(y, y + 4), slice(3, 11)


def _block_2d(k: int):
    assert 0 <= k < 16
    r, c = 2 + 7 * (k // 4), 2 + 9 * (k % 4)
    return slice(r, r + 6), slice(c, c + 8)


def volume_array(spec, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if isinstance(spec, Volume):
        shape = SHAPE + ((spec.channels,) if spec.channels > 1 else ())
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f":
            return (rng.standard_normal(shape) * 100).astype(dtype)
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -1024), min(info.max, 3000), shape, endpoint=True).astype(dtype)
    out = np.zeros(SHAPE, dtype=spec.dtype)
    if isinstance(spec, Label):
        for k, value in enumerate(spec.values):
            out[_block(k)] = value
    else:
        out[_block(spec.slot)] = spec.value
    return out


def _write_volume(path: Path, arr: np.ndarray) -> None:
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        nib.save(nib.Nifti1Image(arr, AFFINE), str(path))
    else:
        write_itk(path, arr, AFFINE, compress=name.endswith(".mha"))


def _write_2d(path: Path, spec, seed: int) -> None:
    w, h = SIZE_2D
    if isinstance(spec, Image2D):
        rng = np.random.default_rng(seed)
        shape = (h, w, 3) if spec.mode == "RGB" else (h, w)
        img = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
    else:
        arr = np.zeros((h, w), dtype=np.uint8)
        for k, value in enumerate(spec.values):
            arr[_block_2d(k)] = value
        img = Image.fromarray(arr)
        if spec.mode == "P":
            img = img.convert("P")
        img.save(path, **dict(spec.save))
        return
    img.save(path)


def write_miniature(root: Path, miniature: Miniature) -> Path:
    """Writes every file of ``miniature`` below ``root``."""
    for i, (rel, spec) in enumerate(sorted(miniature.files.items())):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(spec, Series):
            arr = volume_array(Volume("int16"), i)
            write_dicom_series(path, arr, AFFINE, series_uid=f"1.2.826.0.1.3680043.8.498.{100 + i}",
                               modality=spec.modality)
        elif isinstance(spec, (Volume, Label, Mask)):
            _write_volume(path, volume_array(spec, i))
        elif isinstance(spec, (Image2D, Mask2D)):
            _write_2d(path, spec, i)
        else:
            path.write_text(spec.text)
    return root
