"""What every reader shares: the error type, the file checks made before opening, and
message helpers. Every failure of a case's input is an ``InputError`` whose message
names the file and the cause, in one line."""

from __future__ import annotations

import os
import stat


class InputError(ValueError):
    """A case's input cannot be converted; the message names the file and the cause."""


# Grids larger than this are refused from the header, before any allocation:
# a broken or hostile header can claim petabytes. 2^31 voxels is a 1290^3 volume.
DEFAULT_MAX_VOXELS = 2**31


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


def check_voxels(path, shape, max_voxels: int) -> None:
    """A header's grid must not claim more than ``max_voxels`` voxels (``--max-voxels``)."""
    voxels = 1
    for n in shape:
        voxels *= int(n)
    if voxels > max_voxels:
        raise InputError(
            f"{path}: header claims a {'x'.join(map(str, shape))} grid ({voxels} voxels), "
            f"more than --max-voxels {max_voxels}"
        )


def one_line(exc: BaseException) -> str:
    """An exception's text on one line (libraries' messages span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def plain(value):
    """A number (numpy scalars too) as a plain Python number for messages (5, 0.5, nan; not
    np.float64(0.5))."""
    value = value.item() if hasattr(value, "item") else value
    return int(value) if isinstance(value, float) and value.is_integer() else value
