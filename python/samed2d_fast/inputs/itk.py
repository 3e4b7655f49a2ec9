"""MetaImage (``.mha``, ``.mhd`` + ``.raw``/``.zraw``) and NRRD (``.nrrd``, ``.nhdr``),
read with SimpleITK (SPEC section 8), and the ITK image -> (array, affine) rule that
DICOM series share.

A 3D image's array is ``GetArrayFromImage`` with its spatial axes reversed (x, y, z;
vector components and a 4th axis last, as channels); its affine is
``[[F D diag(s), F o], [0 0 0 1]]`` with F = diag(-1, -1, 1), ITK's LPS to NIfTI's RAS.
A 2D image is rows x columns as a PNG is. The array is a view of the ITK image's own
buffer (no copy); the view keeps the image alive.
"""

from __future__ import annotations

import os
import re
from typing import Optional, Tuple

import numpy as np

from .base import Format, Header
from .files import InputError, check_file, check_voxels, one_line

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def sitk():
    """SimpleITK, imported when a file needs it (it takes a while to load)."""
    import SimpleITK

    return SimpleITK


def itk_reason(exc: BaseException) -> str:
    """The cause in an ITK exception, without its source-file preamble."""
    text = one_line(exc)
    for marker in ("ITK ERROR: ", "itk::ERROR: ", "sitk::ERROR: "):
        if marker in text:
            text = text.rsplit(marker, 1)[1]
            text = re.sub(r"^\w+\(0x[0-9a-f]+\): ", "", text)
    return text


def _dtype(reader_or_image) -> np.dtype:
    """The numpy type of one component of an ITK pixel."""
    name = reader_or_image.GetPixelIDTypeAsString() if hasattr(reader_or_image, "GetPixelIDTypeAsString") \
        else sitk().GetPixelIDValueAsString(reader_or_image.GetPixelID())
    for words, dtype in (("8-bit unsigned", np.uint8), ("8-bit signed", np.int8),
                         ("16-bit unsigned", np.uint16), ("16-bit signed", np.int16),
                         ("32-bit unsigned", np.uint32), ("32-bit signed", np.int32),
                         ("64-bit unsigned", np.uint64), ("64-bit signed", np.int64),
                         ("32-bit float", np.float32), ("64-bit float", np.float64)):
        if words in name and "complex" not in name:
            return np.dtype(dtype)
    raise InputError(f"pixel type {name} is not supported (integer or float values expected)")


def affine_of(origin, spacing, direction, dims: int = 3) -> np.ndarray:
    """The RAS affine of an ITK image's first three axes (SPEC section 8)."""
    d = np.asarray(direction, dtype=np.float64).reshape(dims, dims)[:3, :3]
    affine = np.eye(4)
    affine[:3, :3] = _LPS_TO_RAS @ d @ np.diag(np.asarray(spacing, dtype=np.float64)[:3])
    affine[:3, 3] = _LPS_TO_RAS @ np.asarray(origin, dtype=np.float64)[:3]
    return affine


def shape_of(size, components: int) -> Tuple[int, ...]:
    """The shape of the array a read gives, from ITK's size (x, y[, z[, t]])."""
    size = tuple(int(n) for n in size)
    if len(size) == 2:
        return (size[1], size[0]) + ((components,) if components > 1 else ())
    if len(size) == 4 and components > 1:
        raise InputError("a 4D image of vector pixels is not supported")
    return size + ((components,) if components > 1 else ())


class _Pinned:
    """Keeps an ITK image alive for as long as a numpy view of its buffer lives."""

    def __init__(self, image, view: np.ndarray):
        self.image = image
        self.__array_interface__ = view.__array_interface__


def array_of(image) -> np.ndarray:
    """An ITK image's values in the layout of ``shape_of``, viewing its buffer."""
    view = sitk().GetArrayViewFromImage(image)
    array = np.asarray(_Pinned(image, view))
    dims, components = image.GetDimension(), image.GetNumberOfComponentsPerPixel()
    if dims == 2:
        return array
    axes = list(range(dims))[::-1] + ([dims] if components > 1 else [])
    return array.transpose(axes)


def header_of(path, fmt: Format, reader, max_voxels: int, native=None) -> Header:
    """The Header of an image whose information an ITK reader has read."""
    dims, components = reader.GetDimension(), reader.GetNumberOfComponents()
    try:
        dtype = _dtype(reader)
        shape = shape_of(reader.GetSize(), components)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    check_voxels(path, shape, max_voxels)
    if dims == 2:
        if components not in (1, 3, 4):
            raise InputError(f"{path}: a 2D image of {components} components per pixel (1, 3 or 4 expected)")
        kind = "grey" if components == 1 else "RGB"
        return Header(str(path), fmt, shape[:2] + ((3,) if components > 1 else ()), None, dtype.itemsize,
                      dtype.itemsize, f"2D {shape[1]}x{shape[0]} {kind} {dtype}", native)
    if dims not in (3, 4):
        raise InputError(f"{path}: a {dims}D image (2D, 3D or 4D expected)")
    affine = affine_of(reader.GetOrigin(), reader.GetSpacing(), reader.GetDirection(), dims)
    return Header(str(path), fmt, shape, affine, dtype.itemsize, dtype.itemsize, native=native)


def read_information(path, what: str):
    """An ITK reader that has read a file's header (no pixel data), or an InputError
    naming the file as not a readable ``what``."""
    reader = sitk().ImageFileReader()
    reader.SetFileName(os.fspath(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise InputError(f"{path}: not a readable {what} ({itk_reason(exc)})") from None
    return reader


def read_values(header: Header, *, label: bool, scaled: bool) -> np.ndarray:
    """The values of one file ITK reads whole (``values_of`` its image)."""
    check_file(header.path)
    try:
        image = sitk().ReadImage(header.path)
    except RuntimeError as exc:
        raise InputError(f"{header.path}: cannot read the voxel data ({itk_reason(exc)})") from None
    return values_of(image, header, scaled and not label)


def values_of(image, header: Header, scaled: bool) -> np.ndarray:
    """The array of a read image: a 2D colour one as RGB (alpha dropped); the release
    preset's float64 values where ``scaled``."""
    array = array_of(image)
    if not header.is_volume and array.ndim == 3:
        array = array[..., :3]
    return array.astype(np.float64) if scaled else array


class Itk(Format):
    name = "MetaImage/NRRD"
    suffixes = (".mha", ".mhd", ".nrrd", ".nhdr")

    def header(self, path, max_voxels: int, series: Optional[str] = None) -> Header:
        check_file(path)
        if self._detached(path):  # NRRD's reader already needs the data file: name it first
            _check_data_file(path)
        return header_of(path, self, read_information(path, f"{self.name} file"), max_voxels)

    @staticmethod
    def _detached(path) -> bool:
        return os.fspath(path).lower().endswith((".mhd", ".nhdr"))

    def check_data(self, header: Header) -> None:
        if self._detached(header.path):
            _check_data_file(header.path, header)

    def read(self, header: Header, *, label: bool, scaled: bool) -> np.ndarray:
        return read_values(header, label=label, scaled=scaled)

    def release_values(self, header: Header):
        """ITK's pixel values are the scaled ones already: as read, in their own type."""
        return read_values(header, label=False, scaled=False), 1.0, 0.0


def _header_fields(path, separator: str) -> dict:
    """``key <separator> value`` lines of a text header (the first 64 KiB), keys lowercased."""
    fields = {}
    with open(path, "rb") as f:
        for line in f.read(1 << 16).decode("latin-1").splitlines():
            key, sep, value = line.partition(separator)
            if sep:
                fields.setdefault(key.strip().lower(), value.strip())
    return fields


def _data_file_of(path) -> Tuple[str, bool, int]:
    """A detached header's data file, whether it is compressed, and the bytes before the
    voxels: MetaImage's ElementDataFile, CompressedData, HeaderSize; NRRD's data file,
    encoding, byte skip. ("", ...) where the voxels are in the header file or in a list."""
    if os.fspath(path).lower().endswith(".mhd"):
        fields = _header_fields(path, "=")
        name, compressed = fields.get("elementdatafile", ""), fields.get("compresseddata", "false").lower() == "true"
        skip = fields.get("headersize", "0")
    else:  # .nhdr
        fields = _header_fields(path, ":")
        name = fields.get("data file", fields.get("datafile", ""))
        compressed, skip = fields.get("encoding", "raw").lower() != "raw", fields.get("byte skip", "0")
    if not name or name.upper() == "LOCAL" or name.upper().startswith("LIST") or "%" in name or " " in name:
        return "", compressed, 0
    return name, compressed, int(skip) if skip.isdigit() else 0


def _check_data_file(path, header: Optional[Header] = None) -> None:
    """A detached header's data file must exist and, uncompressed, hold every voxel (when
    ``header`` is given): told from its size before anything is decoded, by the run and
    --dry-run alike."""
    data_file, compressed, skip = _data_file_of(path)
    if not data_file:
        return
    full = os.path.join(os.path.dirname(os.fspath(path)), data_file)
    try:
        check_file(full)
    except InputError as exc:
        raise InputError(f"{path}: its data file {data_file}: {str(exc).split(': ', 1)[-1]}") from None
    if header is None:
        return
    needed = header.decoded_bytes(is_label=False, scaled=False) + skip
    size = os.path.getsize(full)
    if not compressed and size < needed:
        raise InputError(f"{path}: its data file {data_file} is truncated: {size} of {needed} bytes")
