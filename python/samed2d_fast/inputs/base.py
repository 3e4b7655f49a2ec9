"""The shape every reader has: a ``Format`` gives a file's ``Header`` without decoding a
voxel, then its values. Volumes come back in their stored axes with a 4x4 affine
(RAS+ reorientation is a view made later), 2D images as rows x columns."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

import numpy as np

from .labels import grey_label_image, label_image_2d
from .volume import Volume, make_volume


@dataclass
class Header:
    """What a file's header says: enough for ``--dry-run``, the memory planner and the
    grid checks, with no voxel decoded."""

    path: str
    fmt: "Format"
    shape: Tuple[int, ...]            # as read: (X, Y, Z[, C]) of a volume, (rows, cols[, C]) of a 2D image
    affine: Optional[np.ndarray]      # a volume's 4x4 affine (RAS); None for a 2D image
    itemsize: int                     # bytes per value of an image as read (stored values)
    label_itemsize: int               # bytes per value of a label as read
    description: str = ""             # a 2D image's kind (Pillow mode, DICOM photometry)
    native: object = None             # the format's own header object, for its reader
    frames: int = 1                   # frames in a 2D file (the first is read)

    @property
    def is_volume(self) -> bool:
        return self.affine is not None

    def volume(self) -> Volume:
        """The Volume a read gives (orientation, affine, shape rules), with a zero-stride
        array of the header's shape instead of the voxels."""
        return make_volume(np.broadcast_to(np.uint8(0), self.shape), self.affine, self.path)

    def decoded_bytes(self, is_label: bool, scaled: bool) -> int:
        """Bytes of the array a read gives; ``scaled``: an image read as float64 values."""
        voxels = 1
        for n in self.shape:
            voxels *= int(n)
        itemsize = self.label_itemsize if is_label else 8 if scaled else self.itemsize
        return voxels * itemsize


class Format:
    """One family of files; subclasses give ``header`` and ``read``."""

    name = ""
    suffixes: Tuple[str, ...] = ()

    def matches(self, path) -> bool:
        return os.fspath(path).lower().endswith(self.suffixes)

    def case_name(self, path) -> str:
        """The file name without the suffix that matched."""
        name = os.path.basename(os.path.normpath(os.fspath(path)))
        for suffix in self.suffixes:
            if name.lower().endswith(suffix):
                return name[: -len(suffix)]
        return name

    def header(self, path, max_voxels: int, series: Optional[str] = None) -> Header:
        raise NotImplementedError

    def check_data(self, header: Header) -> None:
        """The checks that need more than the header and cost more than the memory planner
        should pay: that the voxel data the header describes is all there (file sizes; a
        compressed file must be inflated to know), a series' every slice. The run and
        --dry-run alike make them (``case_headers``)."""

    def read(self, header: Header, *, label: bool, scaled: bool) -> np.ndarray:
        """The values in the header's shape: an image's stored values (``scaled``: float64
        scaled values), a label's values (scaled where the format scales them)."""
        raise NotImplementedError

    def release_values(self, header: Header) -> Tuple[np.ndarray, float, float]:
        """An image's values for the release preset as (stored, slope, inter): its scaled
        values are ``stored * slope + inter`` in float64 (computed a slice at a time, so
        no float64 copy of a volume is made where a format gives stored values)."""
        return self.read(header, label=False, scaled=True), 1.0, 0.0

    def stream_label(self, header: Header) -> Optional[Iterator[np.ndarray]]:
        """A label volume's values as 1D arrays in Fortran order of the header's shape, a
        piece at a time, where the format can give them so (a compressed file inflated
        piece by piece: painting a label set uses each while it is in the cache); None
        where it cannot, and the caller reads the whole array."""
        return None

    def read_label_2d(self, header: Header, binary: Optional[bool]) -> np.ndarray:
        """A 2D label image by SPEC section 1's rules."""
        values = self.read(header, label=True, scaled=False)
        return label_image_2d(grey_label_image(values, header.path), header.path, binary)
