"""What a case would give, from file headers only (``convert --dry-run``): no voxel is decoded."""

from __future__ import annotations

import nibabel as nib
from PIL import Image

from .datasets import CaseSpec
from .pipeline import is_nifti
from .slicing import kept_axes


def _nifti_shape(path) -> tuple:
    try:
        shape = tuple(nib.load(str(path)).shape)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable NIfTI header ({exc})") from None
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    return shape + (1,) * (3 - len(shape))


def case_slices(spec: CaseSpec) -> str:
    """A one-line description: grid, channels and slices per axis that pass the aspect filter."""
    if not is_nifti(spec.label):
        with Image.open(spec.images[0]) as im, Image.open(spec.label) as lab:
            if im.size != lab.size:
                raise ValueError(f"{spec.label}: size {lab.size} differs from the image's {im.size}")
            return f"2D {im.size[0]}x{im.size[1]} {im.mode}: 1 slice"
    label_shape = _nifti_shape(spec.label)
    if len(label_shape) != 3:
        raise ValueError(f"{spec.label}: a label map must be 3D, got {label_shape}")
    channels = 0
    for path in spec.images:
        shape = _nifti_shape(path)
        if shape[:3] != label_shape:
            raise ValueError(f"{path}: grid {shape[:3]} differs from the label's {label_shape}")
        channels += shape[3] if len(shape) == 4 else 1
    per_axis = {name: 0 for name in "xyz"}
    for axis in kept_axes(label_shape):
        per_axis["xyz"[axis]] = label_shape[axis]
    total = sum(per_axis.values())
    axes = " ".join(f"{a}={n}" for a, n in per_axis.items())
    return f"grid {label_shape}, {channels} channel(s): {total} slices ({axes}) x {channels} images at most"
