"""samed2d_fast: raw segmentation data sets -> the SA-Med2D-20M layout.

The public API; everything else is private.
"""

from .instances import Instance, slice_instances
from .normalize import normalize

__all__ = ["Instance", "normalize", "slice_instances"]
__version__ = "0.1.0"
