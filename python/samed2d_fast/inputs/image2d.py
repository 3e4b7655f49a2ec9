"""2D images read with Pillow: PNG, JPEG, BMP, TIFF, GIF, WebP (SPEC section 1); a file of
several frames gives its first. No reorientation: rows x columns as stored."""

from __future__ import annotations

import os
from typing import Optional

import numpy as np
from PIL import Image

from .base import Format, Header
from .files import InputError, check_file, one_line
from .labels import label_image_2d

_GREY_MODES = {"L", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
_COLOUR_VIA_RGB = {"P", "PA", "CMYK", "YCbCr", "RGBA", "RGBX", "RGBa"}


def open_header(path) -> Image.Image:
    """The image with its header read (Pillow decodes nothing before ``load``)."""
    check_file(path)
    try:
        return Image.open(os.fspath(path))
    except Exception as exc:  # Pillow raises many kinds for a broken file
        raise InputError(f"{path}: not a readable image ({one_line(exc)})") from None


def _open_decoded(path) -> Image.Image:
    im = open_header(path)
    try:
        im.load()  # decode the first frame now so a broken file fails here
    except Exception as exc:
        im.close()
        raise InputError(f"{path}: not a readable image ({one_line(exc)})") from None
    return im


def read_2d_image(path) -> np.ndarray:
    """(H, W) for grey modes, (H, W, 3) for colour ones: the mode decides, not the content."""
    with _open_decoded(path) as im:
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


def read_2d_label(path, binary: Optional[bool] = None) -> np.ndarray:
    """A 2D label image as validated integer labels (SPEC section 1, in its order)."""
    with _open_decoded(path) as im:
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
    return label_image_2d(labels, path, binary)


class Image2D(Format):
    name = "2D image"
    # A file of several frames gives its first (SPEC section 1).
    suffixes = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")

    def case_name(self, path) -> str:
        return os.path.splitext(os.path.basename(os.fspath(path)))[0]

    def header(self, path, max_voxels: int, series: Optional[str] = None) -> Header:
        with open_header(path) as im:
            bands = max(len(im.getbands()), 1)
            try:  # counting frames parses the file further: a broken one fails here
                frames = int(getattr(im, "n_frames", 1))
            except Exception as exc:
                raise InputError(f"{path}: not a readable image ({one_line(exc)})") from None
            shape = (im.size[1], im.size[0]) + ((3,) if bands > 1 else ())
            description = f"2D {im.size[0]}x{im.size[1]} {im.mode}"
            if frames > 1:
                description += f", {frames} frames"
            # memory: Pillow's decoded frame and the array, up to 4 bytes a value
            return Header(str(path), self, shape, None, 4, 4, description, frames=frames)

    def read(self, header: Header, *, label: bool, scaled: bool) -> np.ndarray:
        return read_2d_image(header.path)

    def read_label_2d(self, header: Header, binary: Optional[bool]) -> np.ndarray:
        return read_2d_label(header.path, binary)
