"""Readers of one case's inputs (SPEC section 1): NIfTI volumes and 2D images.

Readers return arrays as stored wherever SPEC allows, so that no scaled float
copy of a volume is made: integer images with a positive slope come back as
their stored integers (normalisation is invariant to an increasing affine
map), and the RAS+ reorientation is a view (flips and transposes only). A
``.nii.gz`` is decompressed no further than its header says the file reaches.
Every failure is an ``InputError`` whose message names the file and the cause.
"""

from __future__ import annotations

import math
import os
import stat
import struct
import zlib
from contextlib import closing
from dataclasses import dataclass
from typing import Iterator

import nibabel as nib
import numpy as np

from nibabel import orientations
from nibabel.volumeutils import apply_read_scaling
from PIL import Image

try:  # ISA-L's inflate (python-isal): a dependency, but the stdlib's works the same, slower
    from isal import isal_zlib as _inflate_lib

    _GZIP_ERRORS: tuple = (_inflate_lib.error, zlib.error)
except ImportError:  # pragma: no cover - only where isal has no wheel
    _inflate_lib = zlib
    _GZIP_ERRORS = (zlib.error,)

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
    """The image object with its header read and checked; no voxel is decoded yet.

    A ``.nii.gz`` header is parsed from its decompressed first ``vox_offset`` bytes
    (see ``_gzip_header``), so the image's ``dataobj`` describes the voxels (offset,
    dtype, shape, scaling) but cannot read them: ``image_volume`` and ``label_volume``
    decode them, bounded by the header.
    """
    check_file(path)
    try:
        img = _gzip_header(path) if _is_gzip(path) else nib.load(os.fspath(path))
    except InputError:
        raise
    except Exception as exc:  # nibabel raises many kinds for a broken file
        raise InputError(f"{path}: not a readable NIfTI file ({_one_line(exc)})") from None
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise InputError(f"{path}: not a NIfTI-1/2 image ({type(img).__name__})")
    dtype = img.get_data_dtype()
    if dtype.kind not in "iuf":  # SPEC section 1: integer or float voxels
        why = ("complex values; store their magnitude or real part as a real-valued image"
               if dtype.kind == "c" else "integer or float voxels expected")
        raise InputError(f"{path}: voxel type {img.header.get_value_label('datatype')} is not supported ({why})")
    voxels = int(np.prod(img.shape, dtype=object))
    if voxels > max_voxels:
        raise InputError(
            f"{path}: header claims a {'x'.join(map(str, img.shape))} grid ({voxels} voxels), "
            f"more than --max-voxels {max_voxels}"
        )
    return img


def check_file(path) -> None:
    """The causes a reader's own message would hide: missing, a folder, not a regular file
    (a FIFO or device would block or never end), empty, not readable. Every reader and
    header look-up calls this before opening a file."""
    if not os.path.lexists(path):
        raise InputError(f"{path}: file not found")
    if not os.path.exists(path):
        raise InputError(f"{path}: broken symbolic link")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a folder, not a file")
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise InputError(f"{path}: not a regular file (a FIFO, socket or device)")
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
        stored = _stored_array(img, path)
        if not scaled and reads_stored_integers(img, is_label):
            return stored
        return _fdata(stored, img.dataobj)
    except InputError:
        raise
    except Exception as exc:  # truncated or corrupt data
        raise InputError(f"{path}: cannot read the voxel data ({_one_line(exc)})") from None


def _fdata(stored: np.ndarray, proxy) -> np.ndarray:
    """The scaled float64 values of the stored voxels, computed as nibabel's
    ``get_fdata()`` does (``ArrayProxy._get_scaled`` with dtype float64)."""
    slope, inter = np.asanyarray(proxy.slope), np.asanyarray(proxy.inter)
    if np.can_cast(slope, np.float64):
        slope = slope.astype(np.float64)
    if np.can_cast(inter, np.float64):
        inter = inter.astype(np.float64)
    return apply_read_scaling(stored, slope, inter).astype(np.float64, copy=False)


def _stored_array(img, path) -> np.ndarray:
    """The stored voxels, unscaled: ``.nii`` files memory-mapped by nibabel; a ``.nii.gz``
    decompressed by ISA-L (about 3x faster than nibabel's streamed zlib on CT volumes)
    into one buffer that the array views, so the volume is held once."""
    check_file(path)
    if not _is_gzip(path):
        check_uncompressed_size(img, path)
        return np.asanyarray(img.dataobj.get_unscaled())
    proxy = img.dataobj  # where the file's voxels start (img.header's offset is reset to 0)
    offset, dtype, shape = int(proxy.offset), np.dtype(proxy.dtype), tuple(proxy.shape)
    raw = _gunzip_exactly(path, offset, int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)
    return np.ndarray(shape, dtype=dtype, buffer=raw, offset=offset, order=proxy.order)


# ---- .nii.gz: decompression bounded by the header ------------------------------
#
# A .nii.gz is inflated only as far as its header says the file reaches: vox_offset
# (header and extensions, at most 64 MiB) plus the voxel bytes. More data, or anything
# but NUL bytes after the last gzip member, is an error, so a gzip bomb costs no more
# memory than a genuine file with its header. Concatenated members (bgzip, pigz) are
# one stream, as gzip itself reads them.

MAX_VOX_OFFSET = 64 * 2**20
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 16 + 15      # zlib's code for one gzip member
# Compressed bytes read, and decompressed bytes made, per call: each chunk is copied into
# place while still in the cache and little input is left over to copy between calls (no
# slower than ISA-L's one-call gunzip on CT volumes, 3x faster on label maps); the memory
# beyond the volume is a few MiB.
_READ_SIZE = 64 << 10
_INFLATE_SIZE = 1 << 20
# Where a NIfTI header keeps vox_offset, by sizeof_hdr: (image class, byte offset, struct code).
_NIFTI_HEADERS = {348: (nib.Nifti1Image, 108, "f"), 540: (nib.Nifti2Image, 168, "q")}
_VOX_OFFSET_END = 176      # decompressed bytes that hold sizeof_hdr and vox_offset of both


def _is_gzip(path) -> bool:
    return os.fspath(path).lower().endswith(".gz")


def _gzip_header(path) -> nib.Nifti1Image:
    """The header and extensions of a ``.nii.gz``, parsed by nibabel from the first
    ``vox_offset`` decompressed bytes; vox_offset is read and checked first, so a
    header extension cannot make nibabel inflate more than 64 MiB."""
    first = _gunzip_head(path, _VOX_OFFSET_END)
    for order in "<>":
        sizeof_hdr = struct.unpack_from(order + "i", first)[0] if len(first) == _VOX_OFFSET_END else 0
        if sizeof_hdr in _NIFTI_HEADERS:
            klass, at, code = _NIFTI_HEADERS[sizeof_hdr]
            vox_offset = struct.unpack_from(order + code, first, at)[0]
            if not 0 <= vox_offset <= MAX_VOX_OFFSET:
                raise InputError(f"{path}: vox_offset {_plain(np.float64(vox_offset))} is outside "
                                 f"0..{MAX_VOX_OFFSET} bytes (64 MiB: the most a header with extensions may take)")
            # the 4 bytes after the header say whether extensions follow
            return klass.from_bytes(_gunzip_head(path, max(math.ceil(vox_offset), sizeof_hdr + 4)))
    raise InputError(f"{path}: not a readable NIfTI file (no NIfTI-1 or NIfTI-2 header)")


def _gunzip_head(path, size: int) -> bytes:
    """The first ``size`` decompressed bytes of a gzip file (fewer when it holds fewer)."""
    head = bytearray()
    with closing(_gunzip_chunks(path, size)) as chunks:
        for chunk in chunks:
            head += chunk
            if len(head) >= size:
                break
    return bytes(head[:size])


def _gunzip_exactly(path, offset: int, voxel_bytes: int) -> np.ndarray:
    """The whole decompressed stream of a gzip file as one uint8 buffer, which must be
    exactly ``offset + voxel_bytes`` long."""
    size = offset + voxel_bytes
    out = np.empty(size, dtype=np.uint8)
    filled = 0
    for chunk in _gunzip_chunks(path, size):
        if filled + len(chunk) > size:
            raise InputError(f"{path}: more data than the header describes: the gzip stream goes on past "
                             f"{size} bytes (vox_offset {offset} + {voxel_bytes} bytes of voxels)")
        out[filled:filled + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
        filled += len(chunk)
    if filled < size:
        raise _truncated(path, filled, size)
    return out


def _gunzip_chunks(path, limit: int) -> Iterator[bytes]:
    """The decompressed bytes of a gzip file, chunk by chunk.

    Inflating stops one byte past ``limit``, so a caller tells a longer stream from
    the expected one without inflating the rest. Checked on the way: the file starts
    a gzip member, no member is cut short or corrupt (CRC and length), and only NUL
    bytes follow the last member (read, never inflated).
    """
    read_size = min(_READ_SIZE, limit + 4096)  # a header read needs a few KB at most
    total = 0
    with open(path, "rb", buffering=0) as f:
        data = f.read(read_size)
        if not data.startswith(_GZIP_MAGIC):
            raise InputError(f"{path}: not gzip-compressed, although its name ends in .gz")
        while data.startswith(_GZIP_MAGIC):  # one member per pass
            inflater = _inflate_lib.decompressobj(_GZIP_WBITS)
            full = False  # the last call filled its output: more may come without new input
            while not inflater.eof:
                if not data and not full:
                    data = f.read(read_size)
                    if not data:
                        raise _truncated(path, total, limit)
                want = min(_INFLATE_SIZE, limit + 1 - total)
                try:
                    chunk = inflater.decompress(data, want)
                except _GZIP_ERRORS as exc:
                    raise InputError(f"{path}: corrupt gzip data ({_one_line(exc)})") from None
                full = len(chunk) == want
                data = inflater.unconsumed_tail
                if chunk:
                    total += len(chunk)
                    yield chunk
                    if total > limit:
                        return
            data = inflater.unused_data
            if len(data) < len(_GZIP_MAGIC):
                data += f.read(read_size)
        while data:
            if data.count(0) != len(data):
                raise InputError(f"{path}: data after the end of the gzip stream (only NUL padding may follow it)")
            data = f.read(_READ_SIZE)


def check_uncompressed_size(img, path) -> None:
    """An uncompressed file must reach the end of its voxels (vox_offset plus voxel bytes):
    told by its size before anything is decoded, by the run and --dry-run alike (a
    ``.nii.gz`` must be decompressed to know)."""
    if _is_gzip(path):
        return
    proxy = img.dataobj
    end = int(proxy.offset) + int(np.prod(proxy.shape, dtype=np.int64)) * np.dtype(proxy.dtype).itemsize
    size = os.path.getsize(path)
    if size < end:
        raise InputError(f"{path}: truncated: the file ends after {size} of {end} bytes (vox_offset plus voxels)")


def _truncated(path, got: int, wanted: int) -> InputError:
    return InputError(f"{path}: truncated: the decompressed data ends after {got} of {wanted} bytes")


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
        return _rounded_labels(data, path)
    if data.dtype.kind not in "iu":
        raise InputError(f"{path}: labels of dtype {data.dtype} are not supported")
    _check_label_range(data.min(), data.max(), path)
    if not data.dtype.isnative:
        return data.astype(data.dtype.newbyteorder("="))
    return data


def _check_label_range(lo, hi, path) -> None:
    if lo < 0:
        raise InputError(f"{path}: negative label value {_plain(lo)}")
    if hi > MAX_LABEL:
        raise InputError(f"{path}: label value {_plain(hi)} above 2^32-1")


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
            raise InputError(f"{path}: label value {_plain(block[bad].flat[0])} is not an integer")
        lo = rounded.min() if lo is None else min(lo, rounded.min())
        hi = rounded.max() if hi is None else max(hi, rounded.max())
    _check_label_range(lo, hi, path)
    out = np.empty_like(data, dtype=np.min_scalar_type(int(hi)))
    for start in range(0, data.shape[0], step):
        out[start:start + step] = np.rint(data[start:start + step])
    return out


def _plain(value):
    """A numpy scalar as a plain Python number for messages (5, 0.5, nan; not np.float64(0.5))."""
    value = value.item()
    return int(value) if isinstance(value, float) and value.is_integer() else value


# ---- 2D files ------------------------------------------------------------------

_GREY_MODES = {"L", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
_COLOUR_VIA_RGB = {"P", "PA", "CMYK", "YCbCr", "RGBA", "RGBX", "RGBa"}


def _open_2d(path) -> Image.Image:
    check_file(path)
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
