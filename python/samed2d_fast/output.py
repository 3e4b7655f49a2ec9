"""Writing output files: PNG encoding and all-or-nothing file writes.

A file appears under its final name only complete (written to a temporary
name in the same folder, then renamed), so an interrupted run never leaves a
half-written PNG or JSON behind.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from . import _core


def encode_png(pixels: np.ndarray) -> bytes:
    """8-bit grey (H, W) or RGB (H, W, 3) pixels as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
    return buffer.getvalue()


def encode_mask_png(mask: np.ndarray) -> bytes:
    """A 2D mask as an 8-bit single-channel PNG: non-zero pixels 255, the others 0."""
    return _core.encode_mask_png(np.asarray(mask))


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def json_bytes(obj) -> bytes:
    """SPEC section 5's JSON form: indent 2, sorted keys, UTF-8, final newline."""
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def write_json(path: Path, obj) -> None:
    write_atomic(path, json_bytes(obj))


def inside(root: Path, relative: str) -> Path:
    """``root / relative``, refusing any path that would leave ``root``."""
    root = root.resolve()
    path = (root / relative).resolve()
    if root != path and root not in path.parents:
        raise ValueError(f"output path {relative!r} leaves {root}")
    return path
