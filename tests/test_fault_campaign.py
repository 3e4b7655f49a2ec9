"""A randomised fault campaign (issue 10): SIGKILL at random points of a convert, an
--overwrite, a WebDataset packing and a merge; a second run started while the first
works; files of a finished output deleted at random. Each trial then runs the recovery
the tool advertises (``--resume``, or ``merge`` again) and must end byte-identical to a
clean run, with every input byte unchanged. A one-line refusal is an allowed outcome only
for the concurrent runs.

SAMED2D_FAULT_TRIALS sets the number of trials (default 20, each kind of fault in turn);
SAMED2D_FAULT_SEED the random points (default: a fresh seed, printed with every failure).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import LOCKS, tree_bytes, write_nnunet_folder

TRIALS = int(os.environ.get("SAMED2D_FAULT_TRIALS", "20"))
SEED = int(os.environ.get("SAMED2D_FAULT_SEED", str(random.SystemRandom().randrange(2**31))))
COMMON = ["--no-progress", "--consolidate", "union"]
PACKED = ["--format", "webdataset", "--shard-size", "60KB"]
SHARDED_SETTINGS = ".samed2d/settings.json"  # holds --num-shards: the one file a sharded run writes otherwise
OUTCOMES: dict = {}

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")


def samed2d(*args) -> list:
    return [sys.executable, "-m", "samed2d_fast", *map(str, args)]


def convert_cmd(src, out, *extra) -> list:
    return samed2d("convert", src, out, *COMMON, "-j", "2", *extra)


def run(cmd) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def start(cmd) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def kill_at(cmd, delay: float) -> bool:
    """Runs ``cmd`` and SIGKILLs its whole process group after ``delay`` s; True when the
    kill landed (the run had not finished)."""
    proc = start(cmd)
    time.sleep(delay)
    landed = proc.poll() is None
    if landed:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    return landed and proc.returncode == -signal.SIGKILL


def kill_somewhere(cmd, duration: float, rng: random.Random) -> float:
    """Kills ``cmd`` at a random point of its run, start-up included; retries earlier if the
    run ended first. Returns where the kill landed."""
    for attempt in range(4):
        delay = rng.uniform(0.0, duration * (0.95 if attempt == 0 else 0.5 ** attempt))
        if kill_at(cmd, delay):
            return delay
    raise AssertionError(f"the kill never landed on {cmd} (run takes {duration:.2f} s); seed {SEED}")


def timed(cmd) -> float:
    begin = time.perf_counter()
    proc = run(cmd)
    assert proc.returncode == 0, proc.stderr
    return time.perf_counter() - begin


def ok(proc: subprocess.CompletedProcess, what: str) -> None:
    assert proc.returncode == 0, f"{what} failed (seed {SEED}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}"


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("campaign")
    return write_nnunet_folder(root / "Campaign", n_cases=6, seed=42, shape=(28, 26, 30))


@pytest.fixture(scope="module")
def clean(sources, tmp_path_factory) -> dict:
    """Reference trees and durations: plain files, WebDataset, and the same run in 2 shards."""
    refs = {}
    base = tmp_path_factory.mktemp("clean")
    for kind, extra in (("files", []), ("packed", PACKED)):
        out = base / kind / "out"
        refs[f"{kind}_seconds"] = timed(convert_cmd(sources, out, *extra))
        refs[kind] = tree_bytes(out)
        overwrite = timed(convert_cmd(sources, out, *extra, "--overwrite"))
        refs[f"{kind}_overwrite_seconds"] = overwrite
        assert tree_bytes(out) == refs[kind]
    out = base / "sharded" / "out"
    for index in range(2):
        ok(run(convert_cmd(sources, out, "--num-shards", "2", "--shard-index", index)), "shard")
    refs["merge_seconds"] = timed(samed2d("merge", out))
    refs["sharded"] = tree_bytes(out)
    return refs


def inputs_digest(src: Path) -> dict:
    return tree_bytes(src, skip=())


def same(out: Path, reference: dict, skip=(LOCKS,)) -> None:
    got = tree_bytes(out, skip)
    want = {k: v for k, v in reference.items() if not any(k == s or k.startswith(s + "/") for s in skip)}
    differ = sorted(set(got) ^ set(want)) + sorted(k for k in set(got) & set(want) if got[k] != want[k])
    assert not differ, f"differs from a clean run (seed {SEED}): {differ[:10]}"


# ---- the kinds of fault ---------------------------------------------------------------


def kill_convert(src, out, clean, rng):
    landed = kill_somewhere(convert_cmd(src, out), clean["files_seconds"], rng)
    ok(run(convert_cmd(src, out, "--resume")), "resume")
    same(out, clean["files"])
    return f"killed at {landed:.2f} s, resumed"


def kill_overwrite(src, out, clean, rng):
    ok(run(convert_cmd(src, out)), "first run")
    landed = kill_somewhere(convert_cmd(src, out, "--overwrite"), clean["files_overwrite_seconds"], rng)
    ok(run(convert_cmd(src, out, "--resume")), "resume after an interrupted --overwrite")
    same(out, clean["files"])
    return f"--overwrite killed at {landed:.2f} s, resumed"


def kill_packed(src, out, clean, rng):
    landed = kill_somewhere(convert_cmd(src, out, *PACKED), clean["packed_seconds"], rng)
    ok(run(convert_cmd(src, out, *PACKED, "--resume")), "resume")
    same(out, clean["packed"])
    return f"WebDataset run killed at {landed:.2f} s, resumed"


def kill_merge(src, out, clean, rng):
    for index in range(2):
        ok(run(convert_cmd(src, out, "--num-shards", "2", "--shard-index", index)), "shard")
    landed = kill_somewhere(samed2d("merge", out), clean["merge_seconds"], rng)
    ok(run(samed2d("merge", out)), "merge again")
    same(out, clean["sharded"])
    return f"merge killed at {landed:.2f} s, merged again"


def _refused(proc) -> bool:
    lines = proc.stderr.strip().splitlines()
    return proc.returncode == 2 and len(lines) == 1 and "another samed2d run works on this output" in lines[0]


def concurrent_convert(src, out, clean, rng):
    first = start(convert_cmd(src, out))
    time.sleep(rng.uniform(0.0, clean["files_seconds"]))
    second = run(convert_cmd(src, out, "--resume"))
    first.communicate(timeout=300)
    outcomes = [first.returncode == 0 or (first.returncode == 2 and "another samed2d run" in first.stderr),
                second.returncode == 0 or _refused(second)]
    assert all(outcomes), f"seed {SEED}: {first.returncode} {first.stderr} / {second.returncode} {second.stderr}"
    ok(run(convert_cmd(src, out, "--resume")), "resume")
    same(out, clean["files"])
    return f"second run: {'refused' if _refused(second) else 'exit ' + str(second.returncode)}"


def concurrent_merge(src, out, clean, rng):
    ok(run(convert_cmd(src, out, "--num-shards", "2", "--shard-index", 0)), "shard 0")
    shard1 = start(convert_cmd(src, out, "--num-shards", "2", "--shard-index", 1))
    time.sleep(rng.uniform(0.0, clean["files_seconds"]))
    merge = run(samed2d("merge", out))
    shard1.communicate(timeout=300)
    assert shard1.returncode == 0, shard1.stderr
    assert _refused(merge) or (merge.returncode == 2 and "neither a record nor a failure" in merge.stderr) or \
        merge.returncode == 0, f"seed {SEED}: {merge.returncode} {merge.stderr}"
    ok(run(samed2d("merge", out)), "merge")
    same(out, clean["sharded"])
    return f"merge during shard 1: exit {merge.returncode}"


def delete_files(src, out, clean, rng, packed=False):
    extra = PACKED if packed else []
    ok(run(convert_cmd(src, out, *extra)), "first run")
    files = sorted(p for p in out.rglob("*") if p.is_file() and LOCKS not in str(p.relative_to(out)))
    doomed = rng.sample(files, rng.randint(1, min(8, len(files))))
    for path in doomed:
        path.unlink()
    ok(run(convert_cmd(src, out, *extra, "--resume")), "resume")
    same(out, clean["packed" if packed else "files"])
    return f"deleted {', '.join(str(p.relative_to(out)) for p in doomed[:3])}{' ...' if len(doomed) > 3 else ''}"


def delete_packed(src, out, clean, rng):
    return delete_files(src, out, clean, rng, packed=True)


KINDS = [kill_convert, kill_overwrite, kill_packed, kill_merge, concurrent_convert, concurrent_merge,
         delete_files, delete_packed]


@pytest.mark.parametrize("trial", range(TRIALS))
def test_fault_then_recovery_equals_a_clean_run(sources, clean, tmp_path, trial):
    kind = KINDS[trial % len(KINDS)]
    rng = random.Random(SEED * 1000 + trial)
    before = inputs_digest(sources)
    out = tmp_path / "out"
    OUTCOMES[trial] = f"{kind.__name__}: {kind(sources, out, clean, rng)}"
    assert inputs_digest(sources) == before, f"an input changed (seed {SEED})"
    print(f"trial {trial} (seed {SEED}): {OUTCOMES[trial]}")


def test_campaign_outcomes_are_printed(capsys):
    """The campaign's tally, in the log (run last in this file)."""
    with capsys.disabled():
        print(f"\nfault campaign: {len(OUTCOMES)} of {TRIALS} trials passed (seed {SEED})")
        for trial, outcome in sorted(OUTCOMES.items()):
            print(f"  {trial}: {outcome}")
    assert len(OUTCOMES) == TRIALS
