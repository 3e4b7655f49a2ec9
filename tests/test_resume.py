"""Kill ``samed2d convert`` with SIGKILL at a random moment, resume it, compare every byte.

Issue #3: "A run killed at any moment and resumed ends with output byte-identical to a run
that was never interrupted." The run is a real process group (``-j 2``: the parent and its
workers; and ``-j 1``), killed as a whole once OUT/images holds files, after a random delay.
The number of ``-j 2`` trials comes from SAMED2D_KILL_TRIALS (default 3); the random delays
from SAMED2D_KILL_SEED (default: a fresh seed, printed in every failure message).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import blob_labels, save_nifti
from samed2d_fast import cli
from samed2d_fast.phantom import make_colour_phantom

KILL_TRIALS = int(os.environ.get("SAMED2D_KILL_TRIALS", "3"))
SEED = int(os.environ.get("SAMED2D_KILL_SEED", str(random.SystemRandom().randrange(2**31))))
# Both data sets get one modality tag (a 2D folder needs --modality, which applies to every SRC).
OPTIONS = ["--modality", "ct_00", "--consolidate", "union", "--no-progress"]

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> list:
    """Six synthetic 40^3 nnU-Net cases with nested labels (so union classes get renamed at
    the end) and the 2D colour phantom set (three images with value-coded masks)."""
    root = tmp_path_factory.mktemp("src")
    rng = np.random.default_rng(20240)
    syn = root / "SynCT"
    for sub in ("imagesTr", "labelsTr"):
        (syn / sub).mkdir(parents=True)
    shape = (40, 40, 40)
    for i in range(6):
        save_nifti(syn / "imagesTr" / f"case{i:02d}_0000.nii.gz",
                   rng.normal(40, 300, shape).astype(np.int16))
        save_nifti(syn / "labelsTr" / f"case{i:02d}.nii.gz", blob_labels(shape, 3, rng))
    (syn / "dataset.json").write_text(json.dumps({
        "name": "SynCT", "channel_names": {"0": "CT"},
        "labels": {"background": 0, "liver": 1, "tumour": 2, "kidney": 3}}))
    derm = root / "PhantomDerm"
    for sub in ("images", "masks"):
        (derm / sub).mkdir(parents=True)
    for i in range(3):
        rgb, lab, _ = make_colour_phantom((96, 128), seed=i)
        Image.fromarray(rgb).save(derm / "images" / f"derm_{i:03d}.png")
        Image.fromarray(lab).save(derm / "masks" / f"derm_{i:03d}.png")
    return [syn, derm]


def command(sources, out: Path, workers: int, *extra) -> list:
    return [sys.executable, "-m", "samed2d_fast", "convert", *map(str, sources), str(out), *OPTIONS,
            "-j", str(workers), *extra]


def tree(root: Path) -> dict:
    return {str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def reference(sources, tmp_path_factory) -> dict:
    """An uninterrupted run. OUT has the same folder name as the killed runs' OUT (the split
    files' paths start with it), in another parent."""
    out = tmp_path_factory.mktemp("reference") / "out"
    proc = subprocess.run(command(sources, out, 2), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    ref = tree(out)
    release = json.loads(ref["SAMed2D_v1.json"])
    assert len(release) > 300, "the reference run is too small to be interrupted"
    mapping = json.loads(ref["SAMed2D_v1_class_mapping_id.json"])
    assert any(name.startswith("union_") for name in mapping["SynCT"]), "no union class to rename"
    return ref


def _images_written(out: Path) -> bool:
    try:
        return any(p.suffix == ".png" for p in (out / "images").iterdir())
    except FileNotFoundError:
        return False


def kill_at_random(sources, out: Path, workers: int, delay: float, log: Path, ready=_images_written,
                   sig=signal.SIGKILL, extra=()) -> bool:
    """Starts a run in its own process group, waits until ``ready(out)`` (by default: OUT/images
    holds a file), sleeps ``delay`` and sends ``sig`` to the whole group. True when the run was
    stopped by it, False when it had already finished."""
    with open(log, "wb") as err:
        proc = subprocess.Popen(command(sources, out, workers, *extra), stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while proc.poll() is None and not ready(out):
                assert time.monotonic() < deadline, "the run wrote no image within 120 s"
                time.sleep(0.005)
            time.sleep(delay)
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    for _ in range(200):  # the group's workers are gone too
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)
    else:
        pytest.fail("processes of the killed run are still alive")
    if sig == signal.SIGINT:  # Ctrl-C: the command's own exit status
        return proc.returncode == 130
    return proc.returncode == -sig


def kill_and_resume(sources, reference, tmp_path: Path, workers: int, trial: int, max_delay: float,
                    ready=_images_written) -> None:
    rng = random.Random(SEED * 1000 + 10 * trial + workers)
    where = f"(SAMED2D_KILL_SEED={SEED}, -j {workers}, trial {trial})"
    for attempt in range(4):
        delay = rng.uniform(0.0, max_delay / (2**attempt))
        out = tmp_path / f"attempt{attempt}" / "out"
        killed = kill_at_random(sources, out, workers, delay, tmp_path / f"attempt{attempt}.log", ready)
        if killed:
            break
    else:
        pytest.fail(f"the run always finished before it could be killed {where}")
    where = f"{where[:-1]}, killed {delay:.3f} s after {ready.__name__})"
    # Without --resume, the interrupted OUT is refused.
    assert cli.main(["convert", *map(str, sources), str(out), *OPTIONS, "-j", "1"]) == 2
    proc = subprocess.run(command(sources, out, workers, "--resume"), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"resume failed {where}: {proc.stderr}"
    got = tree(out)
    only = sorted(set(got) ^ set(reference))
    assert only == [], f"paths only in one of the resumed and the uninterrupted OUT {where}: {only[:10]}"
    differ = [k for k in got if got[k] != reference[k]]
    assert differ == [], f"files that differ from the uninterrupted run {where}: {differ[:10]}"


# Delays span a whole run after its first image (0.7 to 1.3 s on two cores), so kills land in conversion, in the final renaming of union classes and in the
# writing of the JSON files; a run that finished first is retried with a shorter delay.


@pytest.mark.parametrize("trial", range(KILL_TRIALS))
def test_kill_and_resume_two_workers(sources, reference, tmp_path, trial):
    kill_and_resume(sources, reference, tmp_path, workers=2, trial=trial, max_delay=1.0)


def test_kill_and_resume_single_process(sources, reference, tmp_path):
    kill_and_resume(sources, reference, tmp_path, workers=1, trial=0, max_delay=1.0)


def test_kill_while_the_metadata_is_written(sources, reference, tmp_path):
    """Killed once every mask is in place: while union classes get their ids and their
    masks are renamed, or while the JSON files are written (this phase takes ~0.1 s)."""
    n_masks = sum(1 for k in reference if k.startswith("masks/"))

    def all_masks_written(out):
        try:
            return sum(1 for p in (out / "masks").iterdir() if p.suffix == ".png") >= n_masks
        except FileNotFoundError:
            return False

    kill_and_resume(sources, reference, tmp_path, workers=1, trial=1, max_delay=0.08, ready=all_masks_written)


def test_ctrl_c_then_resume(sources, reference, tmp_path):
    """Ctrl-C (SIGINT to the foreground process group, parent and workers): exit status 130
    with a message naming --resume, then --resume ends with the uninterrupted bytes."""
    rng = random.Random(SEED + 3)
    for attempt in range(4):
        out = tmp_path / f"attempt{attempt}" / "out"
        log = tmp_path / f"attempt{attempt}.log"
        if kill_at_random(sources, out, 2, rng.uniform(0.0, 0.8 / 2**attempt), log, sig=signal.SIGINT):
            break
    else:
        pytest.fail(f"the run always finished before Ctrl-C (SAMED2D_KILL_SEED={SEED})")
    assert "--resume" in log.read_text()
    proc = subprocess.run(command(sources, out, 2, "--resume"), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert tree(out) == reference


def test_resume_twice_and_on_complete_output(sources, reference, tmp_path):
    """Killed, resumed and killed again, resumed to the end; then --resume on the complete
    OUT changes nothing."""
    rng = random.Random(SEED + 7)
    out = tmp_path / "run" / "out"
    if kill_at_random(sources, out, 1, rng.uniform(0.0, 0.5), tmp_path / "first.log"):
        # the resumed run is killed as well, once it has converted something of its own
        before = {p.name for p in (out / "images").iterdir()}
        kill_at_random(sources, out, 2, rng.uniform(0.2, 1.2), tmp_path / "second.log",
                       ready=lambda o: {p.name for p in (o / "images").iterdir()} != before, extra=["--resume"])
    proc = subprocess.run(command(sources, out, 2, "--resume"), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert tree(out) == reference
    assert cli.main(["convert", *map(str, sources), str(out), *OPTIONS, "-j", "1", "--resume"]) == 0
    assert tree(out) == reference


def test_ctrl_c_prints_no_worker_traceback(tmp_path):
    """Ctrl-C while one worker is idle (two cases: one tiny, one of 96^3 voxels, -j 2): the
    user sees the one-line message, not a KeyboardInterrupt traceback of a worker process."""
    root = tmp_path / "Two"
    for sub in ("imagesTr", "labelsTr"):
        (root / sub).mkdir(parents=True)
    rng = np.random.default_rng(7)
    for name, shape in (("a_fast", (8, 8, 8)), ("b_slow", (96, 96, 96))):
        save_nifti(root / "imagesTr" / f"{name}_0000.nii.gz", rng.normal(0, 300, shape).astype(np.int16))
        save_nifti(root / "labelsTr" / f"{name}.nii.gz", blob_labels(shape, 6, rng))
    (root / "dataset.json").write_text(json.dumps({"channel_names": {"0": "CT"}, "labels": {"background": 0}}))
    out = tmp_path / "out"

    def slow_case_started(out):
        try:
            return any("--b_slow--" in p.name for p in (out / "images").iterdir())
        except FileNotFoundError:
            return False

    proc = subprocess.Popen([sys.executable, "-m", "samed2d_fast", "convert", str(root), str(out), "-j", "2",
                             "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and not slow_case_started(out):
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.returncode == 0:
        pytest.skip("the run finished before Ctrl-C")
    assert proc.returncode == 130
    assert "--resume" in stderr
    assert "Traceback" not in stderr, stderr
