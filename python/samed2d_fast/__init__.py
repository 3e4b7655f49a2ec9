"""samed2d_fast: raw segmentation data sets -> the SA-Med2D-20M layout.

The public API; everything else is private.
"""

__version__ = "0.1.0"  # first: modules of the package read it while it loads

from .instances import Instance, slice_instances
from .inputs import InputError
from .metadata import write_metadata
from .normalize import normalize
from .pipeline import convert_case
from .record import CaseRecord

__all__ = [
    "CaseRecord",
    "InputError",
    "Instance",
    "convert_case",
    "normalize",
    "slice_instances",
    "write_metadata",
]
