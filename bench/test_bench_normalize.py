"""Normalisation (SPEC 2) of a whole volume: ours (a new array, into out=, and on each
vector path), the exact numpy peers, and copyto."""

import os

import numpy as np
import pytest

import inputs
import peers
import samed2d_fast
from reference import normalize_ref
from samed2d_fast import _core

EXACT = {"int16": peers.normalize_int_exact, "uint16": peers.normalize_int_exact,
         "int32": peers.normalize_int_exact, "float32": peers.normalize_float_exact}
VOLUMES = {"int16": lambda image: image, "uint16": inputs.uint16_volume,
           "int32": lambda image: image.astype(np.int32), "float32": inputs.float_volume}


@pytest.fixture(scope="module", params=sorted(EXACT))
def volume(request, case):
    return request.param, VOLUMES[request.param](case.image)


@pytest.fixture(scope="module")
def expected(volume):
    return normalize_ref(volume[1])


def test_ours(benchmark, volume, expected):
    benchmark.group = f"normalise {volume[0]}"
    np.testing.assert_array_equal(benchmark(samed2d_fast.normalize, volume[1]), expected)


def test_ours_into_out(benchmark, volume, expected):
    benchmark.group = f"normalise {volume[0]}"
    out = np.empty(volume[1].shape, np.uint8)
    np.testing.assert_array_equal(benchmark(samed2d_fast.normalize, volume[1], out), expected)


@pytest.mark.parametrize("path", _core.simd_paths())
def test_ours_on_each_path(benchmark, volume, expected, path, monkeypatch):
    benchmark.group = f"normalise {volume[0]}"
    monkeypatch.setenv("SAMED2D_SIMD", path)
    out = np.empty(volume[1].shape, np.uint8)
    np.testing.assert_array_equal(benchmark(samed2d_fast.normalize, volume[1], out), expected)
    assert os.environ["SAMED2D_SIMD"] == _core.simd_path() == path


def test_numpy_exact(benchmark, volume, expected):
    benchmark.group = f"normalise {volume[0]}"
    np.testing.assert_array_equal(benchmark(EXACT[volume[0]], volume[1]), expected)


def test_copyto(benchmark, volume):
    benchmark.group = f"normalise {volume[0]}"
    out = np.empty_like(volume[1])
    np.testing.assert_array_equal(benchmark(peers.copy_bytes, volume[1], out), volume[1])
