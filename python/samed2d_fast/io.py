"""Readers of one case's inputs (SPEC section 1): NIfTI volumes and 2D images.

Readers return arrays as stored wherever SPEC allows, so that no scaled float
copy of a volume is made: integer images with a positive slope come back as
their stored integers (normalisation is invariant to an increasing affine
map), and the RAS+ reorientation is a view (flips and transposes only).
Every failure is an ``InputError`` whose message names the file and the cause.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import nibabel as nib
import numpy as np

from nibabel import orientations
from PIL import Image

try:  # ISA-L's gzip (python-isal): a dependency, but the stdlib's works the same, slower
    from isal.igzip import decompress as gunzip
except ImportError:  # pragma: no cover - only where isal has no wheel
    from gzip import decompress as gunzip

MAX_LABEL = 2**32 - 1
LABEL_TOLERANCE = 1e-3
AFFINE_TOLERANCE = 1e-3


class InputError(ValueError):
    """A case's input cannot be converted; the message names the file and the cause."""


@dataclass
class Volume:
    """A NIfTI array in its stored layout plus the transform to RAS+."""

    path: str
    data: np.ndarray          # stored order, 3D or 4D (X, Y, Z[, C])
    ornt: np.ndarray          # nibabel orientation to the closest canonical RAS+
    affine_ras: np.ndarray    # the affine after reorientation

    def ras(self, array: np.ndarray | None = None) -> np.ndarray:
        """``array`` (default: the data) reoriented to RAS+, as a view."""
        return orientations.apply_orientation(self.data if array is None else array, self.ornt)

    @property
    def spatial_shape(self) -> tuple:
        return tuple(int(self.data.shape[i]) for i in np.argsort(self.ornt[:, 0]))


# Grids larger than this are refused from the header, before any allocation:
# a broken or hostile header can claim petabytes. 2^31 voxels is a 1290^3 volume.
DEFAULT_MAX_VOXELS = 2**31


def load_nifti_header(path, max_voxels: int = DEFAULT_MAX_VOXELS) -> nib.Nifti1Image:
    """The image object with its header read and checked; no voxel is decoded yet."""
    _check_file(path)
    try:
        img = nib.load(os.fspath(path))
    except Exception as exc:  # nibabel raises many kinds for a broken file
        raise InputError(f"{path}: not a readable NIfTI file ({_one_line(exc)})") from None
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise InputError(f"{path}: not a NIfTI-1/2 image ({type(img).__name__})")
    voxels = int(np.prod(img.shape, dtype=object))
    if voxels > max_voxels:
        raise InputError(
            f"{path}: header claims a {'x'.join(map(str, img.shape))} grid ({voxels} voxels), "
            f"more than --max-voxels {max_voxels}"
        )
    return img


def _check_file(path) -> None:
    """The causes a reader's own message would hide: missing, a folder, empty, not readable."""
    if not os.path.lexists(path):
        raise InputError(f"{path}: file not found")
    if not os.path.exists(path):
        raise InputError(f"{path}: broken symbolic link")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a folder, not a file")
    if os.path.getsize(path) == 0:
        raise InputError(f"{path}: empty file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def reads_stored_integers(img, is_label: bool) -> bool:
    """Whether a volume is used as its stored integers rather than ``get_fdata()``:
    images with a positive slope (normalisation ignores an increasing affine map),
    labels only without scaling (their values are the scaled ones)."""
    if img.get_data_dtype().kind not in "iu":
        return False
    slope, inter = float(img.dataobj.slope), float(img.dataobj.inter)
    return slope == 1 and inter == 0 if is_label else slope > 0


def _read_array(img, path, is_label: bool, scaled: bool = False) -> np.ndarray:
    try:
        if not scaled and reads_stored_integers(img, is_label):
            return _stored_array(img, path)
        return img.get_fdata()
    except InputError:
        raise
    except Exception as exc:  # truncated or corrupt data
        raise InputError(f"{path}: cannot read the voxel data ({_one_line(exc)})") from None


def _stored_array(img, path) -> np.ndarray:
    """The stored voxels, unscaled. A ``.nii.gz`` is decompressed in one call (ISA-L's
    igzip when installed: about 3x faster than nibabel's streamed zlib on CT volumes)
    and the array is a read-only view of the decompressed bytes, so the volume is held
    once; ``.nii`` files are memory-mapped by nibabel."""
    if not os.fspath(path).lower().endswith(".gz"):
        return np.asanyarray(img.dataobj.get_unscaled())
    with open(path, "rb") as f:
        raw = gunzip(f.read())
    proxy = img.dataobj  # where the file's voxels start (img.header's offset is reset to 0)
    offset, dtype, shape = int(proxy.offset), np.dtype(proxy.dtype), tuple(proxy.shape)
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) < offset + count * dtype.itemsize:
        raise InputError(f"{path}: truncated: {max(len(raw) - offset, 0)} bytes of voxel data, "
                         f"{count * dtype.itemsize} expected")
    return np.ndarray(shape, dtype=dtype, buffer=raw, offset=offset, order=proxy.order)


def _squeeze_to_3d_or_4d(data: np.ndarray, path) -> np.ndarray:
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim == 2:
        data = data[:, :, np.newaxis]
    if data.ndim not in (3, 4):
        raise InputError(f"{path}: expected a 2D, 3D or 4D volume, got shape {data.shape}")
    return data


def _volume(img, data, path) -> Volume:
    ornt = orientations.io_orientation(img.affine)
    affine = img.affine @ orientations.inv_ornt_aff(ornt, data.shape[:3])
    return Volume(str(path), data, ornt, affine)


def image_volume(img, path, scaled: bool = False) -> Volume:
    """The image volume of a loaded NIfTI: 3D, or 4D with channels last; ``scaled``
    forces the scaled float64 values (``get_fdata()``) even for integer files."""
    data = _squeeze_to_3d_or_4d(_read_array(img, path, is_label=False, scaled=scaled), path)
    return _volume(img, data, path)


def label_volume(img, path) -> Volume:
    """The 3D label map of a loaded NIfTI, validated integer labels."""
    data = _squeeze_to_3d_or_4d(_read_array(img, path, is_label=True), path)
    if data.ndim != 3:
        raise InputError(f"{path}: a label map must be 3D, got shape {data.shape}")
    return _volume(img, validate_labels(data, path), path)


def check_same_grid(image: Volume, label: Volume) -> None:
    shape_i, shape_l = image.ras().shape[:3], label.ras().shape
    if shape_i != shape_l:
        raise InputError(
            f"{label.path}: label grid {shape_l} differs from image grid {shape_i} ({image.path})"
        )
    diff = float(np.max(np.abs(image.affine_ras - label.affine_ras)))
    if not diff <= AFFINE_TOLERANCE:
        raise InputError(
            f"{label.path}: label affine differs from the image's by {diff:.3g} ({image.path})"
        )


def validate_labels(data: np.ndarray, path) -> np.ndarray:
    """Integer labels in [0, 2^32-1], native byte order; floats rounded within 1e-3."""
    if data.size == 0:
        return data.astype(np.uint8)
    if data.dtype.kind == "b":
        return data.astype(np.uint8)
    if data.dtype.kind == "f":
        rounded = np.rint(data)
        bad = ~(np.abs(data - rounded) <= LABEL_TOLERANCE)
        if bad.any():
            raise InputError(f"{path}: label value {_plain(data[bad].flat[0])} is not an integer")
        data = rounded
    elif data.dtype.kind not in "iu":
        raise InputError(f"{path}: labels of dtype {data.dtype} are not supported")
    lo, hi = data.min(), data.max()
    if lo < 0:
        raise InputError(f"{path}: negative label value {_plain(lo)}")
    if hi > MAX_LABEL:
        raise InputError(f"{path}: label value {_plain(hi)} above 2^32-1")
    if data.dtype.kind == "f":
        return data.astype(np.min_scalar_type(int(hi)))
    if not data.dtype.isnative:
        return data.astype(data.dtype.newbyteorder("="))
    return data


def _plain(value):
    """A numpy scalar as a plain Python number for messages (5, 0.5, nan; not np.float64(0.5))."""
    value = value.item()
    return int(value) if isinstance(value, float) and value.is_integer() else value


# ---- 2D files ------------------------------------------------------------------

_GREY_MODES = {"L", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
_COLOUR_VIA_RGB = {"P", "PA", "CMYK", "YCbCr", "RGBA", "RGBX", "RGBa"}


def _open_2d(path) -> Image.Image:
    _check_file(path)
    try:
        im = Image.open(os.fspath(path))
        im.load()  # decode the first frame now so a broken file fails here
    except Exception as exc:
        raise InputError(f"{path}: not a readable image ({_one_line(exc)})") from None
    return im


def read_2d_image(path) -> np.ndarray:
    """(H, W) for grey modes, (H, W, 3) for colour ones: the mode decides, not the content."""
    with _open_2d(path) as im:
        mode = im.mode
        if mode == "1":
            return np.asarray(im, dtype=np.uint8) * np.uint8(255)
        if mode == "LA":
            return np.asarray(im.getchannel(0))
        if mode in _GREY_MODES or mode == "RGB":
            return np.asarray(im)
        if mode in _COLOUR_VIA_RGB:
            return np.asarray(im.convert("RGB"))
    raise InputError(f"{path}: unsupported image mode {mode}")


def read_2d_label(path, binary: bool | None = None) -> np.ndarray:
    """A 2D label image as validated integer labels (SPEC section 1, in its order)."""
    with _open_2d(path) as im:
        if im.format == "JPEG":
            return (np.asarray(im.convert("L")) >= 128).astype(np.uint8)
        mode = im.mode
        if mode in ("P", "PA"):
            labels = np.asarray(im.getchannel(0)) if mode == "PA" else np.asarray(im)
        elif mode == "1":
            labels = np.asarray(im, dtype=np.uint8) * np.uint8(255)
        elif mode in ("RGB", "RGBA", "RGBX"):
            rgb = np.asarray(im)[..., :3]
            if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
                raise InputError(f"{path}: RGB label image is not grey (its channels differ)")
            labels = rgb[..., 0]
        elif mode == "LA":
            labels = np.asarray(im.getchannel(0))
        elif mode in _GREY_MODES:
            labels = np.asarray(im)
        else:
            raise InputError(f"{path}: unsupported label image mode {mode}")
    labels = validate_labels(labels, path)
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
