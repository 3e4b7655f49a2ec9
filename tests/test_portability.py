"""cpp/portability/every_kernel.cpp, which CI cross-compiles for aarch64, covers every
kernel header and compiles (natively here, without Python)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "cpp" / "portability" / "every_kernel.cpp"


def test_every_kernel_header_is_in_the_portability_file():
    included = set(re.findall(r'#include "samed2d/([^"]+)"', SOURCE.read_text()))
    headers = {p.name for p in (ROOT / "cpp" / "include" / "samed2d").glob("*.hpp")}
    assert included == headers


@pytest.mark.skipif(shutil.which("g++") is None, reason="no g++ on this machine")
def test_the_portability_file_compiles_and_runs(tmp_path):
    binary = tmp_path / "every_kernel"
    subprocess.run(["g++", "-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off",
                    f"-I{ROOT / 'cpp' / 'include'}", str(SOURCE), "-o", str(binary)], check=True)
    subprocess.run([str(binary)], check=True)
