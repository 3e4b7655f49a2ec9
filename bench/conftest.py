"""Fixtures of the pytest-benchmark suites: one small case, made once per session.

Run with ``pytest bench/ --benchmark-only``; the project's default test paths leave
bench/ out, so these never slow the test suite. Timings are reported, never asserted;
each benchmark asserts that its result equals the reference on the same input.
"""

import itertools
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import inputs  # noqa: E402

# x and y slices (48x96) pass the aspect filter too, so every axis is exercised.
SHAPE = (96, 96, 48)


@pytest.fixture(scope="session")
def case():
    return inputs.make_ct_case(SHAPE)


@pytest.fixture(scope="session")
def nifti_paths(case, tmp_path_factory):
    return inputs.write_nifti_case(case, tmp_path_factory.mktemp("input"))


@pytest.fixture(scope="session")
def label_slices(case):
    return inputs.label_slices(case.labels)


@pytest.fixture
def fresh_dir():
    """A new empty output folder per benchmark round (a case must not overwrite one),
    on tmpfs where there is one, as in compare.py."""
    with tempfile.TemporaryDirectory(prefix="samed2d-bench-", dir=inputs.default_workdir()) as tmp:
        counter = itertools.count()
        yield lambda: Path(tmp) / f"out-{next(counter)}"
