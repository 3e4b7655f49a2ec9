"""The C++ mask PNG writer: any standard decoder reads back exactly the mask."""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

import samed2d_fast as sf
from samed2d_fast import _core
from samed2d_fast.instances import slice_instances_raw

EXAMPLES = int(os.environ.get("SAMED2D_HYPOTHESIS_EXAMPLES", "200"))


def decode_strict(png: bytes) -> np.ndarray:
    """Chunk CRCs, zlib's Adler-32 and the filter bytes checked by hand; then the pixels."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + n]
        assert struct.unpack(">I", png[pos + 8 + n : pos + 12 + n])[0] == zlib.crc32(kind + data)
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            idat += data
        pos += 12 + n
    width, height, depth, colour, _, _, interlace = header
    assert (depth, colour, interlace) == (8, 0, 0)
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, width + 1)
    assert not raw[:, 0].any()  # filter None on every row
    return raw[:, 1:]


def check_png(png: bytes, mask: np.ndarray) -> None:
    expected = np.where(mask != 0, 255, 0).astype(np.uint8)
    np.testing.assert_array_equal(decode_strict(png), expected)
    with Image.open(io.BytesIO(png)) as im:
        assert im.mode == "L"
        np.testing.assert_array_equal(np.asarray(im), expected)


masks = hnp.arrays(
    dtype=st.sampled_from([np.bool_, np.uint8, np.int16, np.dtype(">u2"), np.uint32, np.int64]),
    shape=st.tuples(st.integers(1, 70), st.integers(1, 70)),
    elements=st.integers(0, 1),
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(mask=masks, transpose=st.booleans(), step=st.integers(1, 3), flip=st.booleans())
def test_encode_mask_png_any_layout(mask, transpose, step, flip):
    view = (mask.T if transpose else mask)[::step, ::-1 if flip else 1]
    check_png(_core.encode_mask_png(view), view)


@pytest.mark.parametrize("shape", [(1, 1), (1, 600), (600, 1), (300, 7)])
@pytest.mark.parametrize("fill", [0.0, 1.0, 0.5])
def test_encode_mask_png_edges(shape, fill):
    mask = np.random.default_rng(1).random(shape) < fill
    check_png(_core.encode_mask_png(mask), mask)


def test_long_runs_and_opencv():
    """Runs far longer than one deflate match, ending 1 and 2 bytes past a multiple of 258."""
    cv2 = pytest.importorskip("cv2")
    for width in (258 * 9 - 1, 258 * 9 + 1, 258 * 9 + 2, 4096):
        mask = np.zeros((5, width), bool)
        mask[2, 3:-3] = True
        png = _core.encode_mask_png(mask)
        check_png(png, mask)
        np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED), mask * 255)


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(
    labels=hnp.arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 40)), elements=st.integers(0, 3)),
    mode=st.sampled_from(["outer", "union", "off"]),
)
def test_instance_pngs_equal_instance_masks(labels, mode):
    raw = slice_instances_raw(labels, 8, mode, 0.0, with_components=False, with_pngs=True)
    instances = sf.slice_instances(labels, consolidate=mode, min_area_ratio=0.0)
    pngs = raw["pngs"]
    assert "components" not in raw
    assert len(pngs) == len(instances)
    for inst, png in zip(instances, pngs):
        check_png(png, inst.mask)


def test_bad_arguments():
    with pytest.raises(ValueError):
        _core.encode_mask_png(np.zeros((2, 2, 2), bool))
    with pytest.raises(TypeError):
        _core.encode_mask_png(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError):
        _core.encode_mask_png(np.zeros((0, 3), bool))
    assert slice_instances_raw(np.zeros((0, 4), np.uint8), with_pngs=True)["pngs"] == []


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(
    pixels=hnp.arrays(np.uint8, st.one_of(st.tuples(st.integers(1, 40), st.integers(1, 40)),
                                          st.tuples(st.integers(1, 40), st.integers(1, 40), st.just(3)))),
)
def test_image_png_round_trips(pixels):
    from samed2d_fast.output import encode_png

    png = encode_png(pixels)
    with Image.open(io.BytesIO(png)) as im:
        assert im.mode == ("L" if pixels.ndim == 2 else "RGB")
        np.testing.assert_array_equal(np.asarray(im), pixels)


def test_image_png_opencv_and_errors():
    cv2 = pytest.importorskip("cv2")
    from samed2d_fast.output import encode_png

    rgb = np.random.default_rng(2).integers(0, 256, (33, 17, 3), dtype=np.uint8)
    decoded = cv2.imdecode(np.frombuffer(encode_png(rgb), np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(decoded[..., ::-1], rgb)  # OpenCV reads BGR
    for bad in (np.zeros((3, 3), np.uint16), np.zeros((3, 3, 4), np.uint8), np.zeros((0, 3), np.uint8)):
        with pytest.raises(ValueError):
            encode_png(bad)


def up_filter_ref(pixels: np.ndarray, repeat: int) -> np.ndarray:
    """PNG's Up filter in numpy: the filter byte 2, then each row minus the row above."""
    rows = np.repeat(pixels, repeat, axis=1).astype(np.int16)
    above = np.vstack([np.zeros((1, rows.shape[1]), np.int16), rows[:-1]])
    return np.hstack([np.full((rows.shape[0], 1), 2, np.int16), (rows - above) % 256]).astype(np.uint8)


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(pixels=hnp.arrays(np.uint8, st.tuples(st.integers(0, 30), st.integers(0, 30))),
       view=st.sampled_from(["as is", "flipped", "transposed", "every other"]), repeat=st.sampled_from([1, 3]))
def test_up_filter_rows_equals_numpy(pixels, view, repeat):
    """Any strides (the display orientation's flips, transposes and steps), 1xN, Nx1, empty."""
    pixels = {"as is": pixels, "flipped": pixels[::-1, ::-1], "transposed": pixels.T,
              "every other": pixels[::2, ::2]}[view]
    np.testing.assert_array_equal(_core.up_filter_rows(pixels, repeat), up_filter_ref(pixels, repeat))


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(pixels=hnp.arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 40))))
def test_grey_as_rgb_is_the_rgb_png_of_three_equal_channels(pixels):
    from samed2d_fast.output import encode_png

    png = encode_png(pixels, grey_as_rgb=True)
    assert png == encode_png(np.repeat(pixels[:, :, np.newaxis], 3, axis=2))
    with Image.open(io.BytesIO(png)) as im:
        assert im.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(im), np.repeat(pixels[:, :, np.newaxis], 3, axis=2))


def test_up_filter_rows_and_grey_as_rgb_refusals():
    from samed2d_fast.output import encode_png

    with pytest.raises(TypeError, match="expected uint8"):
        _core.up_filter_rows(np.zeros((2, 2), np.int16))
    with pytest.raises(ValueError, match="repeat must be 1 or 3"):
        _core.up_filter_rows(np.zeros((2, 2), np.uint8), 2)
    with pytest.raises(ValueError, match="expected a 2D array"):
        _core.up_filter_rows(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match=r"expected uint8 \(H, W\), got uint8 \(2, 2, 3\)"):
        encode_png(np.zeros((2, 2, 3), np.uint8), grey_as_rgb=True)
