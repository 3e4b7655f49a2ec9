"""Issue 10: OUT is the tool's only where it can prove it, runs never mix, and a broken
output is never called OK. One test (or a few) per numbered finding of the issue, with its
setup; every test also checks that no input byte changed.

The items about inputs (12, 14-16, 19, 20) are in test_safety_inputs.py, the items about
finding sources (8's --dataset, 10, 11, 13, 17's dataset.json, 22, 27) in
test_safety_sources.py; the fault campaign is test_fault_campaign.py.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import LOCKS, tree_bytes, write_nnunet_folder
from samed2d_fast import cli, ownership
from samed2d_fast.lock import OutLock, WHOLE
from samed2d_fast.phantom import make_colour_phantom
from samed2d_fast.verify import verify_output

QUIET = ["--no-progress", "-j", "1"]


def digest_tree(root: Path) -> dict:
    """Every file and link under root -> a digest of its bytes (or its link target)."""
    out = {}
    for path in sorted(Path(root).rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha1(path.read_bytes()).hexdigest()
    return out


def convert(*args) -> int:
    return cli.main(["convert", *map(str, args), *QUIET])


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture
def src(tmp_path) -> Path:
    return write_nnunet_folder(tmp_path / "SRC", n_cases=3, seed=1)


@pytest.fixture
def folder_2d(tmp_path) -> Path:
    """D: images/p.png and masks/p.png."""
    root = tmp_path / "D"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rgb, lab, _ = make_colour_phantom((64, 80), seed=3)
    Image.fromarray(rgb).save(root / "images" / "p.png")
    Image.fromarray(lab).save(root / "masks" / "p.png")
    return root


@pytest.fixture
def clean(src, tmp_path_factory) -> dict:
    """The bytes of an uninterrupted run of SRC (OUT named 'out', as in every test here)."""
    out = tmp_path_factory.mktemp("clean") / "out"
    assert convert(src, out) == 0
    return tree_bytes(out)


# ---- 1. --overwrite never deletes an input, nor anybody else's files -------------------


def test_1_out_equal_to_the_source_is_refused_and_nothing_changes(folder_2d, capsys):
    before = digest_tree(folder_2d)
    for extra in ([], ["--overwrite"], ["--resume"]):
        assert cli.main(["convert", str(folder_2d), str(folder_2d), "--modality", "dermoscopy_00", *QUIET,
                         *extra]) == 2
        line = error_line(capsys)
        assert "is the source folder" in line and "--overwrite" not in line
    assert digest_tree(folder_2d) == before


@pytest.mark.parametrize("where", ["inside", "contains"])
def test_1_out_inside_or_around_a_source_is_refused(src, tmp_path, where, capsys):
    out = src / "out" if where == "inside" else src.parent
    before = digest_tree(src)
    assert convert(src, out, "--overwrite") == 2
    assert ("sits inside" if where == "inside" else "contains") in error_line(capsys)
    assert digest_tree(src) == before and not (src / "out").exists()


@pytest.mark.parametrize("extra", [[], ["--resume"], ["--overwrite"]])
def test_1_foreign_out_is_never_written(src, tmp_path, extra, capsys):
    """Somebody's folder with images/, masks/ and summary.json of its own."""
    out = tmp_path / "theirs"
    for sub in ("images", "masks"):
        (out / sub).mkdir(parents=True)
        (out / sub / "x.png").write_bytes(b"their data")
    (out / "summary.json").write_text("{}")
    before = digest_tree(out)
    assert convert(src, out, *extra) == 2
    line = error_line(capsys)
    assert "holds no samed2d output" in line and "choose another OUT" in line and "--overwrite" not in line
    assert digest_tree(out) == before and not (out / ".samed2d").exists()


def test_1_overwrite_refuses_foreign_files_inside_an_owned_out(src, tmp_path, capsys):
    out = tmp_path / "out"
    assert convert(src, out) == 0
    (out / "masks" / "notes.png").write_bytes(b"mine")
    before = digest_tree(out)
    assert convert(src, out, "--overwrite") == 2
    line = error_line(capsys)
    assert "masks/notes.png" in line and "not written by samed2d" in line and "nothing here was removed" in line
    assert digest_tree(out) == before


def test_1_overwrite_removes_exactly_the_manifest(src, tmp_path, clean, capsys):
    """A case killed half-way (a started entry, files, no record) is still the tool's;
    a user's file beside OUT's own folders stays."""
    out = tmp_path / "out"
    assert convert(src, out) == 0
    record = out / ".samed2d" / "records" / "SRC--case01.json"
    record.unlink()  # as if killed before its record
    (out / "README.txt").write_text("the user's note")
    assert convert(src, out, "--overwrite") == 0
    assert (out / "README.txt").read_text() == "the user's note"
    (out / "README.txt").unlink()
    assert tree_bytes(out) == clean


def test_1_output_of_the_earlier_release_is_adopted(src, tmp_path, clean, capsys):
    """Records and the old settings, no marker, no started entries: its records are its manifest."""
    out = tmp_path / "out"
    assert convert(src, out) == 0
    state = out / ".samed2d"
    (state / "owner.json").unlink()
    shutil.rmtree(state / "started")
    (state / "settings.json").write_text(json.dumps({"format": "files", "shard_size": 0, "test_fraction": 0.2}))
    capsys.readouterr()
    assert convert(src, out, "--overwrite") == 0
    assert tree_bytes(out) == clean


def test_1_refusal_of_an_earlier_run_points_at_resume(src, tmp_path, capsys):
    out = tmp_path / "out"
    assert convert(src, out) == 0
    capsys.readouterr()
    before = digest_tree(out)
    assert convert(src, out) == 2
    line = error_line(capsys)
    assert "add --resume" in line and "--overwrite" not in line
    assert digest_tree(out) == before


# ---- 2. clearing is crash-safe; missing files are redone ------------------------------


def test_2_interrupted_overwrite_then_resume_equals_a_clean_run(src, tmp_path, clean, monkeypatch, capsys):
    out = tmp_path / "out"
    assert convert(src, out) == 0
    real_unlink = Path.unlink
    calls = {"n": 0}

    def dying_unlink(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 40:
            raise KeyboardInterrupt  # the kill, in the middle of clearing
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", dying_unlink)
    assert convert(src, out, "--overwrite") == 130
    monkeypatch.undo()
    assert ownership.is_clearing(out)
    assert any("interrupted while clearing" in p for p in verify_output(out))
    assert convert(src, out, "--resume") == 0
    assert tree_bytes(out) == clean
    assert verify_output(out, deep=True) == []


def test_2_images_removed_by_hand_are_redone_on_resume(src, tmp_path, clean, capsys):
    out = tmp_path / "out"
    assert convert(src, out) == 0
    shutil.rmtree(out / "images")
    assert any("cannot read" in p or "No such file" in p for p in verify_output(out))
    assert convert(src, out, "--resume") == 0
    assert "3 case(s) recorded before have files missing" in capsys.readouterr().out
    assert tree_bytes(out) == clean


def test_2_one_mask_removed_is_redone(src, tmp_path, clean, capsys):
    out = tmp_path / "out"
    assert convert(src, out) == 0
    sorted((out / "masks").iterdir())[7].unlink()
    assert convert(src, out, "--resume") == 0
    assert "1 case(s) recorded before have files missing" in capsys.readouterr().out
    assert tree_bytes(out) == clean


# ---- 3. one run at a time -------------------------------------------------------------


def test_3_second_run_fails_at_once_naming_the_holder(src, tmp_path, capsys):
    out = tmp_path / "out"
    assert convert(src, out) == 0
    capsys.readouterr()
    before = tree_bytes(out)
    with OutLock(out / ".samed2d" / "locks", WHOLE, "convert (held by the test)"):
        for args in (["convert", str(src), str(out), "--resume", *QUIET], ["merge", str(out)],
                     ["convert", str(src), str(out), "--num-shards", "2", "--shard-index", "0", *QUIET]):
            assert cli.main(args) == 2
            line = error_line(capsys)
            assert "another samed2d run works on this output" in line
            assert f"pid {os.getpid()}" in line and socket.gethostname() in line
    assert tree_bytes(out) == before
    assert convert(src, out, "--resume") == 0  # released


def test_3_shards_run_side_by_side_but_not_with_merge(src, tmp_path, capsys):
    out = tmp_path / "out"
    assert convert(src, out, "--num-shards", "2", "--shard-index", "0") == 0
    with OutLock(out / ".samed2d" / "locks", "shard-0001", "shard 1 (held by the test)"):
        assert convert(src, out, "--num-shards", "2", "--shard-index", "0", "--resume") == 0
        capsys.readouterr()
        assert cli.main(["merge", str(out)]) == 2
        assert "shard-0001.lock" in error_line(capsys)


def _write_lock(path: Path, **holder) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(holder))


@pytest.mark.parametrize("holder,stale", [
    ({"host": socket.gethostname(), "pid": 2**22 + 7}, True),            # this host, process gone
    ({"host": "node17", "pid": 1, "age": 301}, True),                     # another host, heartbeat > 5 min
    ({"host": "node17", "pid": 1, "age": 10}, False),                     # another host, alive
])
def test_3_stale_locks_are_taken_over(src, tmp_path, holder, stale, capsys):
    from samed2d_fast.lock import _boot_id

    out = tmp_path / "out"
    assert convert(src, out) == 0
    capsys.readouterr()
    _write_lock(out / LOCKS / "all.lock", host=holder["host"], pid=holder["pid"], boot_id=_boot_id(),
                process_start="1", started="then", command="convert",
                heartbeat=time.time() - holder.get("age", 0))
    assert convert(src, out, "--resume") == (0 if stale else 2)
    if not stale:
        assert "node17" in error_line(capsys)


def test_3_heartbeat_is_refreshed_and_the_lock_released(tmp_path, monkeypatch):
    from samed2d_fast import lock

    monkeypatch.setattr(lock, "HEARTBEAT_SECONDS", 0.05)
    with OutLock(tmp_path / "locks", WHOLE, "test") as held:
        first = lock.read_lock(held.path)["heartbeat"]
        time.sleep(0.4)
        assert lock.read_lock(held.path)["heartbeat"] > first
        assert list(lock.held_locks(tmp_path / "locks")) == [WHOLE]
    assert not held.path.exists() and lock.held_locks(tmp_path / "locks") == {}


def test_3_num_shards_is_fixed_at_the_first_start(src, tmp_path, capsys):
    out = tmp_path / "out"
    assert convert(src, out, "--num-shards", "3", "--shard-index", "0") == 0
    capsys.readouterr()
    assert convert(src, out, "--num-shards", "2", "--shard-index", "1") == 2
    assert "--num-shards: 3 in OUT, 2 now" in error_line(capsys)


# ---- 4 and 24. packing is a transaction; packed split files name what exists -----------


def _packed(src, out, *extra):
    return convert(src, out, "--format", "webdataset", "--shard-size", "100KB", *extra)


def test_4_kill_while_removing_loose_files_then_resume(src, tmp_path, monkeypatch, capsys):
    clean = tmp_path / "clean" / "out"
    assert _packed(src, clean) == 0
    out = tmp_path / "out"
    real_unlink = Path.unlink
    state = {"armed": False, "n": 0}

    def dying_unlink(self, *args, **kwargs):
        if self.suffix == ".png":
            state["n"] += 1
            if state["n"] == 25:
                raise KeyboardInterrupt
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", dying_unlink)
    assert _packed(src, out) == 130
    monkeypatch.undo()
    problems = verify_output(out)
    assert any("packing WebDataset shards was interrupted" in p for p in problems)
    assert any("summary.json: missing" in p for p in problems)
    assert _packed(src, out, "--resume") == 0
    assert tree_bytes(out) == tree_bytes(clean)
    assert verify_output(out, deep=True) == []


def test_4_deleted_shard_is_repacked_on_resume(src, tmp_path, capsys):
    out = tmp_path / "out"
    assert _packed(src, out) == 0
    clean = tree_bytes(out)
    (out / "webdataset" / "shard-000001.tar").unlink()
    assert any("shard-000001.tar" in p for p in verify_output(out))
    assert _packed(src, out, "--resume") == 0
    assert tree_bytes(out) == clean


def test_24_split_files_of_a_packed_output_name_shard_members(src, tmp_path):
    out = tmp_path / "out"
    assert _packed(src, out) == 0
    train = json.loads((out / "image2label_train.json").read_text())
    test = json.loads((out / "label2image_test.json").read_text())
    members = {}
    for shard in (out / "webdataset").glob("shard-*.tar"):
        with tarfile.open(shard) as tar:
            members.update({f"out/webdataset/{shard.name}/{m.name}": m for m in tar.getmembers()})
    named = set(train) | {m for ms in train.values() for m in ms} | set(test) | set(test.values())
    assert named and named <= set(members)
    assert not (out / "images").exists() and verify_output(out) == []


# ---- 5 and 6. paths read back are checked; no symlinked folders -----------------------


def test_5_record_naming_a_file_outside_out(src, tmp_path, capsys):
    out = tmp_path / "out"
    assert convert(src, out, "--num-shards", "2", "--shard-index", "0") == 0
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"not yours")
    record_file = sorted((out / ".samed2d" / "records").glob("*.json"))[0]
    record = json.loads(record_file.read_text())
    image = next(iter(record["images"]))
    record["images"]["images/../../victim.png"] = record["images"].pop(image)
    record["mask_boxes"]["images/../../victim.png"] = record["mask_boxes"].pop(image)
    record_file.write_text(json.dumps(record))
    capsys.readouterr()
    for args in (["merge", str(out)], ["convert", str(src), str(out), "--num-shards", "2", "--shard-index", "1",
                                       *QUIET], ["verify", str(out), "--deep"]):
        code = cli.main(args)
        assert code in (1, 2)
        captured = capsys.readouterr()
        assert "not a valid record" in captured.err + captured.out
    assert victim.read_bytes() == b"not yours"


@pytest.mark.parametrize("name", ["images", "masks", ".samed2d"])
def test_6_symlinked_folder_inside_out_is_refused(src, tmp_path, name, capsys):
    out = tmp_path / "out"
    assert convert(src, out) == 0
    elsewhere = tmp_path / "elsewhere"
    shutil.move(str(out / name), str(elsewhere))
    (out / name).symlink_to(elsewhere)
    before = digest_tree(elsewhere)
    capsys.readouterr()
    for extra in (["--resume"], ["--overwrite"]):
        assert convert(src, out, *extra) == 2
        assert "is a symbolic link" in error_line(capsys)
    assert digest_tree(elsewhere) == before


def test_6_out_itself_may_be_a_symlink(src, tmp_path, clean):
    """HPC scratch paths often are links: OUT is resolved once, and its files land in the target."""
    real = tmp_path / "scratch" / "out"
    real.mkdir(parents=True)
    link = tmp_path / "link" / "out"
    link.parent.mkdir()
    link.symlink_to(real)
    assert convert(src, link) == 0
    assert tree_bytes(real) == clean
    assert verify_output(link) == []


# ---- 7 and 8. settings are fixed; one data set name means one set of classes ---------


@pytest.mark.parametrize("extra,difference", [
    (["--preset", "release"], "normalisation (--preset): volume in OUT, slice now"),
    (["--connectivity", "4"], "--connectivity: 8 in OUT, 4 now"),
    (["--rgb"], "--rgb (or --preset): False in OUT, True now"),
    (["--keep-empty"], "--keep-empty: False in OUT, True now"),
    (["--format", "webdataset"], "--format: files in OUT, webdataset now"),
    (["--consolidate", "off"], "--consolidate (or --preset): outer in OUT, off now"),
])
def test_7_resume_with_other_settings_is_refused(src, tmp_path, extra, difference, capsys):
    out = tmp_path / "out"
    assert convert(src, out) == 0
    capsys.readouterr()
    before = digest_tree(out)
    assert convert(src, out, "--resume", *extra) == 2
    line = error_line(capsys)
    assert difference in line and "convert into a new OUT" in line
    assert digest_tree(out) == before


def test_7_modality_and_class_map_are_part_of_the_settings(src, tmp_path, capsys):
    out = tmp_path / "out"
    assert convert(src, out) == 0
    capsys.readouterr()
    assert convert(src, out, "--resume", "--modality", "mr_00") == 2
    assert "modality tags" in error_line(capsys)
    class_map = tmp_path / "map.json"
    class_map.write_text(json.dumps({"SRC": {"kidney": "0007"}}))
    assert convert(src, out, "--resume", "--class-map", class_map) == 2
    assert "--class-map contents" in error_line(capsys)


def test_7_speed_options_and_new_sources_are_allowed(src, tmp_path, capsys):
    out = tmp_path / "out"
    assert convert(src, out) == 0
    more = write_nnunet_folder(tmp_path / "MORE", n_cases=1, seed=5)
    assert cli.main(["convert", str(src), str(more), str(out), "--resume", "--no-progress", "-j", "2",
                     "--threads", "2", "--max-voxels", "10000000", "--test-fraction", "0.5"]) == 0
    both = tmp_path / "both" / "out"
    assert cli.main(["convert", str(src), str(more), str(both), "--no-progress", "--test-fraction", "0.5"]) == 0
    assert tree_bytes(out) == tree_bytes(both)


def test_7_resume_with_the_source_spelt_otherwise(src, tmp_path, clean, monkeypatch, capsys):
    """Relative first, absolute from another working folder then: the same source, not a collision."""
    monkeypatch.chdir(tmp_path)
    assert convert("SRC", "out") == 0
    monkeypatch.chdir(src)
    assert convert(src, tmp_path / "out", "--resume") == 0
    assert "3 cases converted before" in capsys.readouterr().out
    assert tree_bytes(tmp_path / "out") == clean


def test_7_a_case_name_taken_by_another_source_fails(src, tmp_path, capsys):
    out = tmp_path / "out"
    assert convert(src, out) == 0
    other = write_nnunet_folder(tmp_path / "elsewhere" / "SRC", n_cases=1, seed=9)
    assert convert(other, out, "--resume") == 1
    assert "case name 'SRC--case00' is taken in OUT by" in capsys.readouterr().out


def test_7_verify_deep_finds_a_record_of_other_settings(src, tmp_path):
    out = tmp_path / "out"
    assert convert(src, out) == 0
    image = sorted((out / "images").iterdir())[0]
    grey = np.asarray(Image.open(image))
    Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2)).save(image)  # an RGB image among grey ones
    assert verify_output(out) == []  # decodes, right size: the plain check cannot tell
    assert any("but OUT was started with grey images" in p for p in verify_output(out, deep=True))


@pytest.fixture
def two_livers(tmp_path):
    """A/Liver and B/Liver: one data set name, label 1 called kidney in one and liver in the other."""
    a = write_nnunet_folder(tmp_path / "A" / "Liver", n_cases=1, seed=1)
    b = write_nnunet_folder(tmp_path / "B" / "Liver", n_cases=1, seed=2)
    meta = json.loads((b / "dataset.json").read_text())
    meta["labels"] = {"background": 0, "liver": 1, "tumour": 2, "cyst": 3}
    (b / "dataset.json").write_text(json.dumps(meta))
    return a, b


def test_8_two_sources_with_one_name_and_other_classes(two_livers, tmp_path, capsys):
    a, b = two_livers
    out = tmp_path / "out"
    assert convert(a, b, out) == 2
    line = error_line(capsys)
    assert str(a) in line and str(b) in line and "--dataset" in line
    assert not out.exists()
    # the same, one run after the other
    assert convert(a, out) == 0
    capsys.readouterr()
    assert convert(a, b, out, "--resume") == 2
    line = error_line(capsys)
    assert str(a) in line and str(b) in line


def test_8_a_renamed_data_set_converts(two_livers, tmp_path):
    a, b = two_livers
    out = tmp_path / "out"
    assert convert(a, b, out, "--dataset", "LiverA", "--dataset", "LiverB") == 0
    mapping = json.loads((out / "SAMed2D_v1_class_mapping_id.json").read_text())
    assert sorted(mapping) == ["LiverA", "LiverB"]


# ---- 9. merge knows the plan ----------------------------------------------------------


def test_9_merge_with_shards_missing(tmp_path, capsys):
    src = write_nnunet_folder(tmp_path / "SRC", n_cases=6, seed=3)
    out = tmp_path / "out"
    assert convert(src, out, "--num-shards", "3", "--shard-index", "0") == 0
    capsys.readouterr()
    assert cli.main(["merge", str(out)]) == 2
    line = error_line(capsys)
    assert "have neither a record nor a failure" in line and "shard 1 of 3" in line and "shard 2 of 3" in line
    assert "--partial" in line and not (out / "SAMed2D_v1.json").exists()
    assert cli.main(["merge", str(out), "--partial"]) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["missing"]) == 6 - summary["cases"] and summary["failed"] == 0
    assert "MISSING" in capsys.readouterr().out
    for index in (1, 2):
        assert convert(src, out, "--num-shards", "3", "--shard-index", str(index)) == 0
    assert cli.main(["merge", str(out)]) == 0
    assert "missing" not in json.loads((out / "summary.json").read_text())


# ---- 17, 18, 21, 26: one-line errors, escaped names, a demo run twice, split warnings ---


@pytest.mark.parametrize("module", ["settings", "metadata"])
def test_17_no_space_left_is_one_line(src, tmp_path, monkeypatch, module, capsys):
    """ENOSPC while writing settings.json (at the start) or SAMed2D_v1.json (at the end)."""
    import importlib

    def full(path, obj):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(importlib.import_module(f"samed2d_fast.{module}"), "write_json", full)
    assert convert(src, tmp_path / "out") == 2
    line = error_line(capsys)
    assert "No space left on device" in line and str(tmp_path / "out") in line


def test_17_read_only_out_is_one_line(src, tmp_path, monkeypatch, capsys):
    real_mkdir = Path.mkdir

    def denied(self, *args, **kwargs):
        if self.name == "out":
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", denied)
    assert convert(src, tmp_path / "out") == 2
    assert "Permission denied" in error_line(capsys)


def test_18_control_characters_in_class_names_are_escaped(src, tmp_path, capsys):
    meta = json.loads((src / "dataset.json").read_text())
    meta["labels"] = {"background": 0, "kid\x1b]0;pwned\x07ney": 1, "tumour": 2, "cyst": 3}
    (src / "dataset.json").write_text(json.dumps(meta))
    assert convert(src, tmp_path / "out") == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "kid\\x1b]0;pwned\\x07ney" in out


def test_21_demo_twice(tmp_path, capsys):
    root = tmp_path / "demo"
    assert cli.main(["demo", str(root), "-j", "2", "--no-progress"]) == 0
    first = tree_bytes(root / "SAMed2Dv1")
    assert cli.main(["demo", str(root), "-j", "2", "--no-progress"]) == 0
    second = tree_bytes(root / "SAMed2Dv1")
    assert second == first
    assert "verify: OK" in capsys.readouterr().out


def test_26_empty_or_full_test_part_is_warned(tmp_path, capsys):
    src = write_nnunet_folder(tmp_path / "SRC", n_cases=2, seed=1)
    for fraction, words in (("0", "is empty"), ("1", "holds all of its 2 case(s)")):
        out = tmp_path / f"out{fraction}"
        assert convert(src, out, "--test-fraction", fraction) == 0
        assert words in capsys.readouterr().out
        warnings = json.loads((out / "summary.json").read_text())["warnings"]
        assert len(warnings) == 1 and words in warnings[0]
