"""Normalisation (SPEC 2) of a whole volume: ours, the exact numpy peers, and copyto."""

import numpy as np
import pytest

import inputs
import peers
import samed2d_fast
from reference import normalize_ref

EXACT = {"int16": peers.normalize_int_exact, "float32": peers.normalize_float_exact}


@pytest.fixture(scope="module", params=sorted(EXACT))
def volume(request, case):
    return request.param, case.image if request.param == "int16" else inputs.float_volume(case.image)


@pytest.fixture(scope="module")
def expected(volume):
    return normalize_ref(volume[1])


def test_ours(benchmark, volume, expected):
    benchmark.group = f"normalise {volume[0]}"
    np.testing.assert_array_equal(benchmark(samed2d_fast.normalize, volume[1]), expected)


def test_numpy_exact(benchmark, volume, expected):
    benchmark.group = f"normalise {volume[0]}"
    np.testing.assert_array_equal(benchmark(EXACT[volume[0]], volume[1]), expected)


def test_copyto(benchmark, volume):
    benchmark.group = f"normalise {volume[0]}"
    out = np.empty_like(volume[1])
    np.testing.assert_array_equal(benchmark(peers.copy_bytes, volume[1], out), volume[1])
