"""Mask PNG encoding: ours beside Pillow and OpenCV; every PNG must decode to the mask."""

import numpy as np
import pytest

import checks
import peers
from reference import slice_instances_ref
from samed2d_fast.output import encode_mask_png

WRITERS = {"pillow": peers.png_pillow, "pillow_level1": peers.png_pillow_fast}
if peers.cv2 is not None:
    WRITERS["cv2"] = peers.png_cv2


@pytest.fixture(scope="module")
def masks(label_slices):
    return [r["mask"] for s in label_slices for r in slice_instances_ref(s)]


@pytest.fixture(scope="module")
def expected(masks):
    return [m.view(np.uint8) * np.uint8(255) for m in masks]


def test_ours(benchmark, masks, expected):
    benchmark.group = "mask PNG"
    pngs = benchmark(lambda: [encode_mask_png(m) for m in masks])
    assert checks.png_round_trips(pngs, expected)


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_peer(benchmark, writer, masks, expected):
    benchmark.group = "mask PNG"
    encode = WRITERS[writer]
    pngs = benchmark(lambda: [encode(m.view(np.uint8) * np.uint8(255)) for m in masks])
    assert checks.png_round_trips(pngs, expected)
