"""One whole case, one worker: ours, the plain reference pipeline and the cc3d peer.

Each round writes into a new empty folder; the last round's output is compared with
convert_case_ref (the peer, which skips consolidation, with consolidate="off").
"""

import pytest

import checks
import peers
import samed2d_fast
from reference_pipeline import convert_case_ref

OPTIONS = {"dataset": "bench", "modality": "ct_00", "case": "bench"}
ROUNDS = 3


@pytest.fixture(scope="module")
def expected(nifti_paths, case):
    return {mode: convert_case_ref(*nifti_paths, class_names=case.class_names, consolidate=mode, **OPTIONS)
            for mode in ("outer", "off")}


def rounds(benchmark, run, fresh_dir):
    """Median-able rounds of ``run(out_dir)``; returns (last folder, last result)."""
    outs = []

    def setup():
        outs.append(fresh_dir())
        return (outs[-1],), {}

    result = benchmark.pedantic(run, setup=setup, rounds=ROUNDS)
    return outs[-1], result


def test_ours(benchmark, nifti_paths, case, expected, fresh_dir):
    benchmark.group = "whole case"
    out, record = rounds(
        benchmark, lambda o: samed2d_fast.convert_case(*nifti_paths, o, class_names=case.class_names, **OPTIONS),
        fresh_dir,
    )
    assert record.images == expected["outer"]["index"]
    assert checks.tree_problems(out, expected["outer"]) == []


def test_plain(benchmark, nifti_paths, case, expected, fresh_dir):
    benchmark.group = "whole case"
    out, index = rounds(
        benchmark, lambda o: peers.write_case_ref(*nifti_paths, o, class_names=case.class_names, **OPTIONS),
        fresh_dir,
    )
    assert index == expected["outer"]["index"]
    assert checks.tree_problems(out, expected["outer"]) == []


def test_cc3d(benchmark, nifti_paths, expected, fresh_dir):
    benchmark.group = "whole case"
    out, _ = rounds(benchmark, lambda o: peers.convert_case_cc3d(*nifti_paths, o, **OPTIONS), fresh_dir)
    assert checks.tree_problems(out, expected["off"]) == []
