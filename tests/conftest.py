"""Shared fixtures: the references on sys.path, and the real data in ../shared/data.

SAMED2D_REQUIRE_SHARED=1 (set by .ci/run) turns the real-data tests' skip into a failure,
so a green run proves they ran; the session ends with how many of them ran.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np

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


def pytest_assertrepr_compare(op, left, right):
    """Two trees of files ({name: bytes}) that differ: the differing names, and for each PNG
    whether its pixels differ too, instead of both whole trees (CI prints them untruncated)."""
    if op != "==" or not (_is_tree(left) and _is_tree(right)):
        return None
    lines = [f"two file trees ({len(left)} and {len(right)} files) differ:"]
    for name in sorted(set(left) | set(right)):
        a, b = left.get(name), right.get(name)
        if a != b:
            lines.append(f"  {name}: {_difference(a, b)}")
    return lines[:41] + ([f"  ... and {len(lines) - 41} more"] if len(lines) > 41 else [])


def _is_tree(value) -> bool:
    return isinstance(value, dict) and bool(value) and all(
        isinstance(k, str) and isinstance(v, bytes) for k, v in value.items())


def _difference(a, b) -> str:
    if a is None or b is None:
        return "only on the right" if a is None else "only on the left"
    if a.startswith(b"\x89PNG") and b.startswith(b"\x89PNG"):
        from PIL import Image

        pixels = [np.asarray(Image.open(io.BytesIO(x))) for x in (a, b)]
        if pixels[0].shape == pixels[1].shape and np.array_equal(*pixels):
            return f"same pixels, other bytes ({len(a)} and {len(b)} bytes)"
        return f"other pixels ({len(a)} and {len(b)} bytes)"
    return f"other bytes ({len(a)} and {len(b)} bytes)"
