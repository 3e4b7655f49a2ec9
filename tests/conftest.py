"""Shared fixtures: the references on sys.path, and the real data in ../shared/data."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def _shared_data() -> Path:
    env = os.environ.get("SAMED2D_SHARED")
    if env:
        return Path(env) / "data"
    return Path(__file__).resolve().parents[2] / "shared" / "data"


SHARED_DATA = _shared_data()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (set SAMED2D_SHARED to the shared folder)")
    return SHARED_DATA
