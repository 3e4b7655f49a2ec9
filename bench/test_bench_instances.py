"""Instances of label slices (SPEC 4): ours (objects + masks, compact, with PNGs) and peers."""

import numpy as np
import pytest

import checks
import peers
import samed2d_fast
from reference import slice_instances_ref
from samed2d_fast import _core
from samed2d_fast.instances import slice_instances_raw


@pytest.fixture(scope="module")
def expected(label_slices):
    return [slice_instances_ref(s) for s in label_slices]


@pytest.fixture(scope="module")
def expected_off(label_slices):
    """The peers do no consolidation: they must match SPEC 4 with consolidation off."""
    return [[(r["label"], r["mask"]) for r in slice_instances_ref(s, consolidate="off")] for s in label_slices]


def test_ours_with_masks(benchmark, label_slices, expected):
    benchmark.group = "instances"

    def run():  # every mask is built, as a user of the API would
        out = [samed2d_fast.slice_instances(s) for s in label_slices]
        return out, [i.mask for instances in out for i in instances]

    got, _ = benchmark(run)
    assert all(checks.same_instances(o, e) for o, e in zip(got, expected))


def test_ours_compact(benchmark, label_slices, expected):
    benchmark.group = "instances"
    raws = benchmark(lambda: [_core.slice_instances(s, 8, "outer", peers.MIN_AREA_RATIO) for s in label_slices])
    for raw, ref in zip(raws, expected):
        assert raw["label"].tolist() == [r["label"] for r in ref]
        assert raw["area"].tolist() == [r["area"] for r in ref]
        assert [tuple(b) for b in raw["bbox"].tolist()] == [r["bbox"] for r in ref]


def test_ours_with_pngs(benchmark, label_slices, expected):
    benchmark.group = "instances"
    raws = benchmark(lambda: [slice_instances_raw(s, with_components=False, with_pngs=True) for s in label_slices])
    for raw, ref in zip(raws, expected):
        assert checks.png_round_trips(raw["pngs"], [r["mask"].view(np.uint8) * np.uint8(255) for r in ref])


def test_cc3d(benchmark, label_slices, expected_off):
    benchmark.group = "instances"
    got = benchmark(lambda: [peers.instances_cc3d(s) for s in label_slices])
    assert all(checks.same_masks_any_order(g, e) for g, e in zip(got, expected_off))


def test_scipy(benchmark, label_slices, expected_off):
    benchmark.group = "instances"
    got = benchmark(lambda: [peers.instances_scipy(s) for s in label_slices])
    assert all(checks.same_masks_any_order(g, e) for g, e in zip(got, expected_off))
