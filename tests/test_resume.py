"""Kill ``samed2d convert`` with SIGKILL at a random moment, resume it, compare every byte.

Issue #3: "A run killed at any moment and resumed ends with output byte-identical to a run
that was never interrupted." The run is a real process group (``-j 2``: the parent and its
workers; and ``-j 1``), killed as a whole at a moment drawn over the whole run, from the
start of the process (interpreter start-up, state creation, planning included) to the
measured end of an uninterrupted run. Every trial asserts that its kill landed (the run was
still going: exit status -SIGKILL); a run that finished first is run again with a moment
drawn within the time it took. The number of ``-j 2`` trials comes from SAMED2D_KILL_TRIALS
(default 3); the random moments from SAMED2D_KILL_SEED (default: a fresh seed, printed in
every failure message).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional, Tuple

import numpy as np
import pytest
from PIL import Image

from helpers import LOCKS, blob_labels, save_nifti
from samed2d_fast import cli
from samed2d_fast.phantom import make_colour_phantom

KILL_TRIALS = int(os.environ.get("SAMED2D_KILL_TRIALS", "3"))
SEED = int(os.environ.get("SAMED2D_KILL_SEED", str(random.SystemRandom().randrange(2**31))))
ATTEMPTS = 4  # runs that may finish before their kill, per trial, before the trial fails
LOG = "run.log"  # a killed run's stderr, beside its OUT
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
    """Every folder and file under root, but the locks (a resumed run took over the killed one's)."""
    return {str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))
            if not str(p.relative_to(root)).startswith(LOCKS)}


def timed_run(sources, out: Path, workers: int) -> float:
    """An uninterrupted run; seconds from starting its process to its exit."""
    start = time.monotonic()
    proc = subprocess.run(command(sources, out, workers), capture_output=True, text=True, timeout=300)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    return seconds


@pytest.fixture(scope="module")
def reference(sources, tmp_path_factory) -> dict:
    """An uninterrupted run. OUT has the same folder name as the killed runs' OUT (the split
    files' paths start with it), in another parent."""
    out = tmp_path_factory.mktemp("reference") / "out"
    timed_run(sources, out, 2)
    ref = tree(out)
    release = json.loads(ref["SAMed2D_v1.json"])
    assert len(release) > 300, "the reference run is too small to be interrupted"
    mapping = json.loads(ref["SAMed2D_v1_class_mapping_id.json"])
    assert any(name.startswith("union_") for name in mapping["SynCT"]), "no union class to rename"
    return ref


@pytest.fixture(scope="module")
def run_seconds(sources, reference, tmp_path_factory) -> dict:
    """-j -> seconds an uninterrupted run takes from process start to exit (the span kill
    moments are drawn from); each of these runs also ends with the reference's bytes."""
    seconds = {}
    for workers in (1, 2):
        out = tmp_path_factory.mktemp(f"timed{workers}") / "out"
        seconds[workers] = timed_run(sources, out, workers)
        assert tree(out) == reference, f"-j {workers} differs from the reference run"
    return seconds


def _images_written(out: Path) -> bool:
    try:
        return any(p.suffix == ".png" for p in (out / "images").iterdir())
    except FileNotFoundError:
        return False


def kill_at(sources, out: Path, workers: int, delay: float, log: Path,
            ready: Optional[Callable[[Path], bool]] = None, sig=signal.SIGKILL, extra=()) -> Tuple[bool, float]:
    """Starts a run in its own process group and sends ``sig`` to the whole group ``delay``
    seconds after the process started, or, given ``ready``, after ``ready(out)`` first held.
    Returns (landed, seconds): landed when the signal stopped the run (it was still going);
    otherwise seconds is how long after that origin the run had finished by itself."""
    with open(log, "wb") as err:
        origin = time.monotonic()
        proc = subprocess.Popen(command(sources, out, workers, *extra), stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
        try:
            if ready is not None:
                deadline = origin + 120
                while proc.poll() is None and not ready(out):
                    assert time.monotonic() < deadline, f"{ready.__name__} never held within 120 s"
                    time.sleep(0.005)
                origin = time.monotonic()
            try:
                proc.wait(timeout=max(0.0, origin + delay - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:  # the whole group ended in between
                    pass
            finished_after = time.monotonic() - origin
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
    # Ctrl-C ends with the command's own exit status
    landed = proc.returncode == (130 if sig == signal.SIGINT else -sig)
    return landed, finished_after


def killed_run(sources, tmp_path: Path, workers: int, rng: random.Random, span: float, where: str,
               ready=None, sig=signal.SIGKILL, extra=(), start_from: Optional[Path] = None) -> Tuple[Path, str]:
    """A run (on a copy of ``start_from``, when given and made) stopped by ``sig`` at a moment drawn
    uniformly over ``span`` seconds (from process start, or from ``ready``). A run that
    finished first is run again, the moment drawn within the time it took. Returns its OUT
    (its stderr in OUT's parent, file LOG) and a description of the kill for failure
    messages; fails when no kill landed."""
    for attempt in range(ATTEMPTS):
        out = tmp_path / f"attempt{attempt}" / "out"
        out.parent.mkdir(parents=True)
        if start_from is not None and start_from.exists():  # an early kill may leave no OUT at all
            shutil.copytree(start_from, out, symlinks=True)
        delay = rng.uniform(0.0, span)
        origin = "process start" if ready is None else ready.__name__
        landed, finished_after = kill_at(sources, out, workers, delay, out.parent / LOG, ready, sig, extra)
        if landed:
            return out, f"{where[:-1]}, killed {delay:.3f} s after {origin})"
        span = min(span, finished_after)
    pytest.fail(f"{ATTEMPTS} runs finished before their kill {where}")


def resume_and_compare(sources, reference, out: Path, workers: int, where: str) -> None:
    if _images_written(out):  # an interrupted output is refused without --resume
        assert cli.main(["convert", *map(str, sources), str(out), *OPTIONS, "-j", "1"]) == 2, where
    proc = subprocess.run(command(sources, out, workers, "--resume"), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"resume failed {where}: {proc.stderr}"
    got = tree(out)
    only = sorted(set(got) ^ set(reference))
    assert only == [], f"paths only in one of the resumed and the uninterrupted OUT {where}: {only[:10]}"
    differ = [k for k in got if got[k] != reference[k]]
    assert differ == [], f"files that differ from the uninterrupted run {where}: {differ[:10]}"


def kill_and_resume(sources, reference, tmp_path: Path, workers: int, trial: int, span: float, ready=None) -> None:
    rng = random.Random(SEED * 1000 + 10 * trial + workers)
    where = f"(SAMED2D_KILL_SEED={SEED}, -j {workers}, trial {trial})"
    out, where = killed_run(sources, tmp_path, workers, rng, span, where, ready)
    resume_and_compare(sources, reference, out, workers, where)


@pytest.mark.parametrize("trial", range(KILL_TRIALS))
def test_kill_and_resume_two_workers(sources, reference, run_seconds, tmp_path, trial):
    kill_and_resume(sources, reference, tmp_path, workers=2, trial=trial, span=run_seconds[2])


def test_kill_and_resume_single_process(sources, reference, run_seconds, tmp_path):
    kill_and_resume(sources, reference, tmp_path, workers=1, trial=0, span=run_seconds[1])


def test_kill_while_the_metadata_is_written(sources, reference, tmp_path):
    """Killed once every mask is in place: while union classes get their ids and their
    masks are renamed, or while the JSON files are written (this phase takes ~0.1 s)."""
    n_masks = sum(1 for k in reference if k.startswith("masks/"))

    def all_masks_written(out):
        try:
            return sum(1 for p in (out / "masks").iterdir() if p.suffix == ".png") >= n_masks
        except FileNotFoundError:
            return False

    kill_and_resume(sources, reference, tmp_path, workers=1, trial=1, span=0.08, ready=all_masks_written)


def test_ctrl_c_then_resume(sources, reference, tmp_path):
    """Ctrl-C (SIGINT to the foreground process group, parent and workers) once images are
    being written (before the command's handler is in place Python itself would print a
    traceback): exit status 130 with a message naming --resume, then --resume ends with the
    uninterrupted bytes."""
    where = f"(SAMED2D_KILL_SEED={SEED}, Ctrl-C)"
    out, where = killed_run(sources, tmp_path, 2, random.Random(SEED + 3), 0.8, where, ready=_images_written,
                            sig=signal.SIGINT)
    assert "--resume" in (out.parent / LOG).read_text(), where
    proc = subprocess.run(command(sources, out, 2, "--resume"), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert tree(out) == reference


def test_resume_twice_and_on_complete_output(sources, reference, run_seconds, tmp_path):
    """Killed, resumed and killed again (both kills from the start of their process),
    resumed to the end; then --resume on the complete OUT changes nothing."""
    rng = random.Random(SEED + 7)
    where = f"(SAMED2D_KILL_SEED={SEED}, first run)"
    first, _ = killed_run(sources, tmp_path / "first", 1, rng, run_seconds[1], where)
    where = f"(SAMED2D_KILL_SEED={SEED}, resumed run)"
    out, where = killed_run(sources, tmp_path / "second", 2, rng, run_seconds[2], where, extra=["--resume"],
                            start_from=first)
    resume_and_compare(sources, reference, out, 2, where)
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
    assert proc.returncode == 130, "the run finished before Ctrl-C"
    assert "--resume" in stderr
    assert "Traceback" not in stderr, stderr


def test_removed_state_entries_of_finished_cases_come_back(sources, reference, tmp_path):
    """A finished case's started entry removed by hand: the resume writes it again from the
    case's record (its prefixes), so OUT ends as an uninterrupted run's, to the byte."""
    out = tmp_path / "out"
    assert subprocess.run(command(sources, out, 1), capture_output=True, text=True, timeout=300).returncode == 0
    started = sorted((out / ".samed2d" / "started").glob("*.json"))
    assert len(started) == 9  # six CT cases and three pictures
    for path in started[::4]:
        path.unlink()
    proc = subprocess.run(command(sources, out, 1, "--resume"), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert tree(out) == reference


def test_a_record_naming_another_case_prefix_is_refused(sources, tmp_path):
    out = tmp_path / "out"
    assert subprocess.run(command(sources, out, 1), capture_output=True, text=True, timeout=300).returncode == 0
    path = sorted((out / ".samed2d" / "records").glob("SynCT--case00.json"))[0]
    record = json.loads(path.read_text())
    record["prefixes"] = ["ct_00--SynCT--case01--"]
    path.write_text(json.dumps(record))
    proc = subprocess.run(command(sources, out, 1, "--resume"), capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "file prefix 'ct_00--SynCT--case01--' is not one of case SynCT--case00" in proc.stderr
