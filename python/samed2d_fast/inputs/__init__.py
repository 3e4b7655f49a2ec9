"""Reading a case's inputs, whatever their container (SPEC sections 1 and 8).

    registry.py    which Format a path needs (one list, tried in order)
    base.py        Format and Header: a header without decoding, then values
    nifti.py       NIfTI-1/2 and Analyze (nibabel), gunzip.py: bounded .nii.gz inflation
    itk.py         MetaImage and NRRD (SimpleITK)
    dicom.py       DICOM series folders (SimpleITK) and single files (pydicom)
    image2d.py     PNG, JPEG, BMP, TIFF, GIF, WebP (Pillow)
    label_sets.py  one mask file per class, painted into a label map
    labels.py      SPEC section 1's label rules; volume.py: stored axes -> RAS+
    case.py        CaseSpec, case_headers (checks, nothing decoded), read_case
"""

from .case import CaseArrays, CaseHeaders, CaseSpec, Channel, case_headers, case_key, label_set, read_case
from .files import DEFAULT_MAX_VOXELS, InputError, check_file
from .label_sets import OVERLAPS
from .registry import DATA_FILE_SUFFIXES, FORMATS, case_name_of, format_of, is_input, read_header

__all__ = [
    "CaseArrays", "CaseHeaders", "CaseSpec", "Channel", "DATA_FILE_SUFFIXES", "DEFAULT_MAX_VOXELS", "FORMATS",
    "InputError", "OVERLAPS", "case_headers", "case_key", "case_name_of", "check_file", "format_of", "is_input",
    "label_set", "read_case", "read_header",
]
