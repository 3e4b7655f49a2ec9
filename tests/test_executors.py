"""The local pool: a worker that dies is reported with its case, and the run goes on."""

from __future__ import annotations

import numpy as np

from helpers import blob_labels, case_that_kills_its_worker, save_nifti
from samed2d_fast.inputs import CaseSpec
from samed2d_fast.executors import run_local
from samed2d_fast.options import Options


def _specs(tmp_path, names):
    rng = np.random.default_rng(0)
    specs = []
    for name in names:
        img = save_nifti(tmp_path / f"{name}_img.nii.gz", rng.normal(size=(12, 12, 12)).astype(np.float32))
        lab = save_nifti(tmp_path / f"{name}_lab.nii.gz", blob_labels((12, 12, 12), 2, rng))
        specs.append(CaseSpec("ds", name, (str(img),), str(lab), ("ct_00",)))
    return specs


def test_dead_worker_is_reported_and_the_run_goes_on(tmp_path):
    specs = _specs(tmp_path, ["a", "b", "doomed", "c", "d", "e"])
    results = list(run_local(specs, tmp_path / "out", Options(), workers=2, task=case_that_kills_its_worker))
    by_case = {r.key.split("--")[1]: r for r in results}
    assert sorted(by_case) == ["a", "b", "c", "d", "doomed", "e"]
    assert len(results) == 6  # every case reported exactly once
    assert "worker process died" in by_case["doomed"].error and "doomed_img" in by_case["doomed"].error
    assert all(r.error is None and r.record is not None for k, r in by_case.items() if k != "doomed")


def test_single_process_run_matches_pool(tmp_path):
    specs = _specs(tmp_path, ["a", "b", "c"])
    one = {r.key: r.record for r in run_local(specs, tmp_path / "o1", Options(), workers=1)}
    two = {r.key: r.record for r in run_local(specs, tmp_path / "o2", Options(), workers=2)}
    assert one == two
