"""NIfTI-1/2 (``.nii``, ``.nii.gz``) and Analyze (``.hdr`` + ``.img``), read with nibabel
(SPEC sections 1 and 8).

Arrays come back as stored wherever SPEC allows, so that no scaled float copy of a
volume is made: integer images with a positive slope come back as their stored
integers (normalisation is invariant to an increasing affine map). ``.nii`` files are
memory-mapped; a ``.nii.gz`` is decompressed by ISA-L no further than its header says
the file reaches (``gunzip``).
"""

from __future__ import annotations

import math
import os
import struct
from typing import Iterator, Optional, Tuple

import nibabel as nib
import numpy as np
from nibabel.volumeutils import apply_read_scaling

from .base import Format, Header
from .files import DEFAULT_MAX_VOXELS, InputError, check_file, check_voxels, one_line, plain
from .gunzip import gunzip_exactly, gunzip_head, gunzip_values, is_gzip
from .labels import validate_labels
from .volume import Volume, check_label_volume, make_volume

MAX_VOX_OFFSET = 64 * 2**20  # the most a header with extensions may take
# Where a NIfTI header keeps vox_offset, by sizeof_hdr: (image class, byte offset, struct code).
_NIFTI_HEADERS = {348: (nib.Nifti1Image, 108, "f"), 540: (nib.Nifti2Image, 168, "q")}
_VOX_OFFSET_END = 176      # decompressed bytes that hold sizeof_hdr and vox_offset of both


def load_nifti_header(path, max_voxels: int = DEFAULT_MAX_VOXELS, analyze: bool = False):
    """The nibabel image with its header read and checked; no voxel is decoded yet.

    A ``.nii.gz`` header is parsed from its decompressed first ``vox_offset`` bytes
    (see ``_gzip_header``), so the image's ``dataobj`` describes the voxels (offset,
    dtype, shape, scaling) but cannot read them: ``stored_array`` decodes them, bounded
    by the header. ``analyze``: an Analyze pair, whatever image class nibabel gives.
    """
    check_file(path)
    kind = "Analyze" if analyze else "NIfTI"
    try:
        img = _gzip_header(path) if is_gzip(path) and not analyze else nib.load(os.fspath(path))
    except InputError:
        raise
    except Exception as exc:  # nibabel raises many kinds for a broken file
        raise InputError(f"{path}: not a readable {kind} file ({one_line(exc)})") from None
    if not analyze and not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise InputError(f"{path}: not a NIfTI-1/2 image ({type(img).__name__})")
    if analyze and not isinstance(img, nib.AnalyzeImage):
        raise InputError(f"{path}: not an Analyze image ({type(img).__name__})")
    dtype = img.get_data_dtype()
    if dtype.kind not in "iuf":  # SPEC section 1: integer or float voxels
        why = ("complex values; store their magnitude or real part as a real-valued image"
               if dtype.kind == "c" else "integer or float voxels expected")
        raise InputError(f"{path}: voxel type {img.header.get_value_label('datatype')} is not supported ({why})")
    check_voxels(path, img.shape, max_voxels)
    return img


def reads_stored_integers(img, is_label: bool) -> bool:
    """Whether a volume is used as its stored integers rather than ``get_fdata()``:
    images with a positive slope (normalisation ignores an increasing affine map),
    labels only without scaling (their values are the scaled ones)."""
    if img.get_data_dtype().kind not in "iu":
        return False
    slope, inter = float(img.dataobj.slope), float(img.dataobj.inter)
    return slope == 1 and inter == 0 if is_label else slope > 0


def read_array(img, path, is_label: bool, scaled: bool = False) -> np.ndarray:
    """The values a case uses: stored integers where SPEC allows, else ``get_fdata()``'s."""
    try:
        stored = stored_array(img, path)
        if not scaled and reads_stored_integers(img, is_label):
            return stored
        return _fdata(stored, img.dataobj)
    except InputError:
        raise
    except Exception as exc:  # truncated or corrupt data
        raise InputError(f"{path}: cannot read the voxel data ({one_line(exc)})") from None


def _fdata(stored: np.ndarray, proxy) -> np.ndarray:
    """The scaled float64 values of the stored voxels, computed as nibabel's
    ``get_fdata()`` does (``ArrayProxy._get_scaled`` with dtype float64)."""
    slope, inter = np.asanyarray(proxy.slope), np.asanyarray(proxy.inter)
    if np.can_cast(slope, np.float64):
        slope = slope.astype(np.float64)
    if np.can_cast(inter, np.float64):
        inter = inter.astype(np.float64)
    return apply_read_scaling(stored, slope, inter).astype(np.float64, copy=False)


def _float64_scaling(proxy) -> Optional[Tuple[float, float]]:
    """(slope, inter) when ``get_fdata()`` is ``stored * slope + inter`` in float64: plain
    float64 scalars, and stored values that float64 scaling cannot overflow (up to 32-bit
    integers, or floats); None otherwise (nibabel may pick a wider type)."""
    slope, inter = np.asanyarray(proxy.slope), np.asanyarray(proxy.inter)
    if slope.size != 1 or inter.size != 1 or not (np.can_cast(slope, np.float64) and np.can_cast(inter, np.float64)):
        return None
    dtype = np.dtype(proxy.dtype)
    if dtype.kind in "iu" and dtype.itemsize > 4:
        return None
    return float(slope), float(inter)


def _data_file(img, path) -> str:
    """The file holding the voxels: the NIfTI itself, or an Analyze pair's ``.img``."""
    return img.file_map["image"].filename or os.fspath(path)


def stored_array(img, path) -> np.ndarray:
    """The stored voxels, unscaled: uncompressed files memory-mapped by nibabel; a
    ``.nii.gz`` decompressed by ISA-L (about 3x faster than nibabel's streamed zlib on CT
    volumes) into one buffer that the array views, so the volume is held once."""
    data_file = _data_file(img, path)
    check_file(data_file)
    if not is_gzip(data_file):
        check_uncompressed_size(img, path)
        return np.asanyarray(img.dataobj.get_unscaled())
    proxy = img.dataobj  # where the file's voxels start (img.header's offset is reset to 0)
    offset, dtype, shape = int(proxy.offset), np.dtype(proxy.dtype), tuple(proxy.shape)
    raw = gunzip_exactly(data_file, offset, int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)
    return np.ndarray(shape, dtype=dtype, buffer=raw, offset=offset, order=proxy.order)


def _gzip_header(path) -> nib.Nifti1Image:
    """The header and extensions of a ``.nii.gz``, parsed by nibabel from the first
    ``vox_offset`` decompressed bytes; vox_offset is read and checked first, so a
    header extension cannot make nibabel inflate more than 64 MiB."""
    first = gunzip_head(path, _VOX_OFFSET_END)
    for order in "<>":
        sizeof_hdr = struct.unpack_from(order + "i", first)[0] if len(first) == _VOX_OFFSET_END else 0
        if sizeof_hdr in _NIFTI_HEADERS:
            klass, at, code = _NIFTI_HEADERS[sizeof_hdr]
            vox_offset = struct.unpack_from(order + code, first, at)[0]
            if not 0 <= vox_offset <= MAX_VOX_OFFSET:
                raise InputError(f"{path}: vox_offset {plain(np.float64(vox_offset))} is outside "
                                 f"0..{MAX_VOX_OFFSET} bytes (64 MiB: the most a header with extensions may take)")
            # the 4 bytes after the header say whether extensions follow
            return klass.from_bytes(gunzip_head(path, max(math.ceil(vox_offset), sizeof_hdr + 4)))
    raise InputError(f"{path}: not a readable NIfTI file (no NIfTI-1 or NIfTI-2 header)")


def check_uncompressed_size(img, path) -> None:
    """An uncompressed file must reach the end of its voxels (vox_offset plus voxel bytes):
    told by its size before anything is decoded, by the run and --dry-run alike (a
    ``.nii.gz`` must be decompressed to know)."""
    data_file = _data_file(img, path)
    if is_gzip(data_file):
        return
    proxy = img.dataobj
    end = int(proxy.offset) + int(np.prod(proxy.shape, dtype=np.int64)) * np.dtype(proxy.dtype).itemsize
    size = os.path.getsize(data_file)
    if size < end:
        raise InputError(f"{data_file}: truncated: the file ends after {size} of {end} bytes (vox_offset plus voxels)")


def image_volume(img, path, scaled: bool = False) -> Volume:
    """The image volume of a loaded NIfTI: 3D, or 4D with channels last; ``scaled``
    forces the scaled float64 values (``get_fdata()``) even for integer files."""
    return make_volume(read_array(img, path, is_label=False, scaled=scaled), img.affine, path)


def label_volume(img, path) -> Volume:
    """The 3D label map of a loaded NIfTI, validated integer labels."""
    volume = make_volume(read_array(img, path, is_label=True), img.affine, path)
    check_label_volume(volume)
    volume.data = validate_labels(volume.data, path)
    return volume


class Nifti(Format):
    name = "NIfTI"
    suffixes = (".nii.gz", ".nii")
    analyze = False

    def header(self, path, max_voxels: int, series: Optional[str] = None) -> Header:
        img = load_nifti_header(path, max_voxels, analyze=self.analyze)
        itemsize = img.get_data_dtype().itemsize
        return Header(str(path), self, tuple(int(n) for n in img.shape), np.asarray(img.affine, dtype=np.float64),
                      itemsize if reads_stored_integers(img, False) else 8,
                      itemsize if reads_stored_integers(img, True) else 8, native=img)

    def check_data(self, header: Header) -> None:
        check_uncompressed_size(header.native, header.path)

    def stream_label(self, header: Header) -> Optional[Iterator[np.ndarray]]:
        """A ``.nii.gz`` label of stored integers (no scaling) in this machine's byte order."""
        img, path = header.native, header.path
        proxy = img.dataobj
        dtype = np.dtype(proxy.dtype)
        if not (is_gzip(_data_file(img, path)) and reads_stored_integers(img, is_label=True)
                and dtype.isnative and proxy.order == "F"):
            return None
        check_file(path)
        count = int(np.prod(proxy.shape, dtype=np.int64))
        return gunzip_values(path, int(proxy.offset), dtype, count)

    def read(self, header: Header, *, label: bool, scaled: bool) -> np.ndarray:
        return read_array(header.native, header.path, is_label=label, scaled=scaled)

    def release_values(self, header: Header) -> Tuple[np.ndarray, float, float]:
        """The stored voxels with nibabel's scaling, where float64 holds it as
        ``get_fdata()`` computes it (else the scaled float64 values)."""
        scaling = _float64_scaling(header.native.dataobj)
        if scaling is None:
            return super().release_values(header)
        try:
            return stored_array(header.native, header.path), scaling[0], scaling[1]
        except InputError:
            raise
        except Exception as exc:  # truncated or corrupt data
            raise InputError(f"{header.path}: cannot read the voxel data ({one_line(exc)})") from None


class Analyze(Nifti):
    """An Analyze 7.5 pair, named by either file (folders list it by its ``.hdr``)."""

    name = "Analyze"
    suffixes = (".hdr", ".img")
    analyze = True
