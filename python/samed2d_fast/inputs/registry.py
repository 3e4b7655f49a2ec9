"""Which reader a path needs: the formats in one list, tried in order, as nnU-Net's
``imageio/reader_writer_registry.py`` does it. A new format is a ``Format`` subclass
added here."""

from __future__ import annotations

import os
from typing import Optional

from .base import Format, Header
from .dicom import DicomFile, DicomSeries
from .files import InputError, check_file
from .image2d import Image2D
from .itk import Itk
from .nifti import Analyze, Nifti

# By suffix first; a folder (no suffix matched) is a DICOM series.
FORMATS = (Nifti(), Analyze(), Itk(), DicomFile(), Image2D(), DicomSeries())
# Files read through their header file (Analyze .hdr, MetaImage .mhd), never on their own.
DATA_FILE_SUFFIXES = (".img", ".raw", ".zraw")


def format_of(path) -> Optional[Format]:
    for fmt in FORMATS:
        if fmt.matches(path):
            return fmt
    return None


def is_input(path) -> bool:
    """Whether a path is an image, volume or series by its name (a folder is a series)."""
    return format_of(path) is not None


def case_name_of(path) -> str:
    """A file's name without the format suffix that matched (a folder's name)."""
    fmt = format_of(path)
    return fmt.case_name(path) if fmt else os.path.splitext(os.path.basename(os.fspath(path)))[0]


def read_header(path, max_voxels: int, series: Optional[str] = None) -> Header:
    """The header of any supported file or DICOM series folder; no voxel is decoded."""
    fmt = format_of(path)
    if fmt is None:
        check_file(path)
        suffixes = sorted({s for f in FORMATS for s in f.suffixes})
        raise InputError(f"{path}: not a supported image or volume file (known: {' '.join(suffixes)}, "
                         f"or a folder of one DICOM series)")
    return fmt.header(path, max_voxels, series=series)
