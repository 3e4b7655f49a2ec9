"""Shared fixtures: the references on sys.path, and the real data in ../shared/data.

SAMED2D_REQUIRE_SHARED=1 (set by .ci/run) turns the real-data tests' skip into a failure,
so a green run proves they ran; the session ends with how many of them ran.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

REAL_DATA_MARK = "real_data"  # given to every test that uses the fixture shared_data


def _shared_data() -> Path:
    env = os.environ.get("SAMED2D_SHARED")
    if env:
        return Path(env) / "data"
    return Path(__file__).resolve().parents[2] / "shared" / "data"


SHARED_DATA = _shared_data()
REQUIRE_SHARED = os.environ.get("SAMED2D_REQUIRE_SHARED") == "1"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        reason = f"real test data not found at {SHARED_DATA} (set SAMED2D_SHARED to the shared folder)"
        if REQUIRE_SHARED:
            pytest.fail(f"{reason}; SAMED2D_REQUIRE_SHARED=1 requires it", pytrace=False)
        pytest.skip(reason)
    return SHARED_DATA


def pytest_configure(config):
    config.addinivalue_line("markers", f"{REAL_DATA_MARK}: the test reads the real data in ../shared/data")


def pytest_collection_modifyitems(items):
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(REAL_DATA_MARK)


def pytest_terminal_summary(terminalreporter):
    counts = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        reports = terminalreporter.stats.get(outcome, [])
        # one report per test: the call phase, or the phase that skipped or broke it
        tests = {r.nodeid for r in reports if REAL_DATA_MARK in getattr(r, "keywords", {})}
        if tests:
            counts[outcome] = len(tests)
    if counts or REQUIRE_SHARED:
        said = ", ".join(f"{n} {outcome}" for outcome, n in counts.items()) or "none collected"
        terminalreporter.write_line(f"real-data tests: {said}")
