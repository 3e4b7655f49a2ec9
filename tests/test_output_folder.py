"""The one reader of an output folder: index, class mapping, records, summary, failures, splits."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from helpers import write_nnunet_folder
from samed2d_fast import cli, metadata
from samed2d_fast.output_folder import OutputFolder
from samed2d_fast.state import StateError
from samed2d_fast.verify import verify_output

QUIET = ["-j", "1", "--no-progress", "--consolidate", "union"]  # union classes get their ids at the end
FILES = ["SAMed2D_v1.json", "SAMed2D_v1_class_mapping_id.json", "image2label_train.json",
         "label2image_test.json", "summary.json", "failures.json"]


def _read(out: Path, name: str):
    return json.loads((out / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return write_nnunet_folder(tmp_path_factory.mktemp("raw") / "FolderSet", n_cases=4)


@pytest.fixture(scope="module")
def finished(source, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "out"
    assert cli.main(["convert", str(source), str(out), *QUIET]) == 0
    return out


@pytest.fixture
def copy(finished, tmp_path) -> Path:
    """A finished output to damage."""
    return Path(shutil.copytree(finished, tmp_path / "out", symlinks=True))


def test_index_and_mapping_from_the_records_equal_the_files_after_a_run(copy):
    folder = OutputFolder(copy)
    pending = {f for rec in folder.records for f in (*rec.classes.values(), *rec.declared.values()) if f[0] == "u"}
    assert pending, "the run should have classes whose id was given at the end"
    assert folder.index == folder.release_index == _read(copy, "SAMed2D_v1.json")
    assert folder.recorded_index == folder.index  # under the ids in force, not the pending names
    assert metadata.release_index(folder.records) != folder.index  # (which the records hold)
    mapping = _read(copy, "SAMed2D_v1_class_mapping_id.json")
    assert folder.class_mapping == mapping
    (copy / "SAMed2D_v1.json").unlink()
    (copy / "SAMed2D_v1_class_mapping_id.json").unlink()
    again = OutputFolder(copy)
    assert again.index == folder.index
    assert again.class_mapping == mapping


def test_names_and_declared_classes(finished):
    folder = OutputFolder(finished)
    mapping = folder.class_mapping["FolderSet"]
    assert folder.class_names["FolderSet"] == {field: name for name, field in mapping.items()}
    assert folder.declared_classes == {"FolderSet": {"kidney": "0001", "tumour": "0002", "cyst": "0003"}}
    assert set(folder.declared_classes["FolderSet"].items()) <= set(mapping.items())


def test_summary_failures_and_splits(finished):
    folder = OutputFolder(finished)
    assert folder.summary == _read(finished, "summary.json")
    assert folder.failures == {} and not (finished / "failures.json").exists()
    assert folder.split("image2label_train.json") == _read(finished, "image2label_train.json")
    assert folder.split("label2image_test.json") == _read(finished, "label2image_test.json")
    with pytest.raises(ValueError, match="not a split file"):
        folder.split("summary.json")


def test_before_the_merge_the_index_names_the_files_as_they_are(source, tmp_path):
    out = tmp_path / "out"
    for index in (0, 1):
        assert cli.main(["convert", str(source), str(out), *QUIET, "--num-shards", "2",
                         "--shard-index", str(index)]) == 0
    assert not (out / "SAMed2D_v1.json").exists()
    before = OutputFolder(out)
    on_disk = {f"{sub}/{p.name}" for sub in ("images", "masks") for p in (out / sub).iterdir()}
    assert {name for image, masks in before.index.items() for name in (image, *masks)} == on_disk
    assert any(f[0] == "u" for classes in before.class_mapping.values() for f in classes.values())
    assert before.summary == {} and before.failures == {}
    assert cli.main(["merge", str(out)]) == 0
    after = OutputFolder(out)
    assert after.index == _read(out, "SAMed2D_v1.json") == after.recorded_index
    assert after.class_mapping == _read(out, "SAMed2D_v1_class_mapping_id.json")
    assert sorted(after.index) == sorted(before.index)  # the same images; pending masks renamed


def test_a_folder_without_output(tmp_path):
    folder = OutputFolder(tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a samed2d output folder"):
        folder.index
    assert folder.records == [] and folder.class_mapping == {} and folder.declared_classes == {}
    assert folder.summary == {} and folder.failures == {}
    with pytest.raises(StateError, match="SAMed2D_v1.json: cannot read"):
        folder.release_index


@pytest.mark.parametrize("name", FILES)
def test_broken_json_names_the_file_in_one_line(copy, name):
    path = copy / name
    path.write_text('{"images/a.png": [', encoding="utf-8")
    folder = OutputFolder(copy)
    read = {"SAMed2D_v1.json": lambda: folder.index, "SAMed2D_v1_class_mapping_id.json": lambda: folder.class_mapping,
            "summary.json": lambda: folder.summary, "failures.json": lambda: folder.failures}.get(
        name, lambda: folder.split(name))
    with pytest.raises(StateError) as info:
        read()
    message = str(info.value)
    assert message.startswith(f"{path}: cannot read (") and "\n" not in message


@pytest.mark.parametrize("name, content, what", [
    ("SAMed2D_v1.json", '["images/a.png"]', "image index"),
    ("SAMed2D_v1.json", '{"images/a.png": "masks/a.png"}', "image index"),
    ("SAMed2D_v1_class_mapping_id.json", '{"FolderSet": {"kidney": 1}}', "class mapping"),
    ("label2image_test.json", '{"m": ["i"]}', "test split"),
    ("summary.json", "[]", "run summary"),
    ("failures.json", '[{"case": "x"}]', "failure list"),
])
def test_json_of_the_wrong_shape_names_the_file(copy, name, content, what):
    path = copy / name
    path.write_text(content, encoding="utf-8")
    folder = OutputFolder(copy)
    with pytest.raises(StateError) as info:
        (folder.index, folder.class_mapping, folder.summary, folder.failures, folder.split("label2image_test.json"))
    assert str(info.value).startswith(f"{path}: not a valid {what} (expected ")


def test_a_broken_record_names_the_record(copy):
    record = sorted((copy / ".samed2d" / "records").glob("*.json"))[0]
    record.write_text("{", encoding="utf-8")
    with pytest.raises(StateError, match=f"^{re.escape(str(record))}: not a valid record"):
        OutputFolder(copy).records


def test_commands_report_a_broken_index_by_its_file(copy, tmp_path, capsys):
    path = copy / "SAMed2D_v1.json"
    path.write_text("{", encoding="utf-8")
    assert cli.main(["preview", str(copy), "-o", str(tmp_path / "sheet.png")]) == 2
    assert f"{path}: cannot read (" in capsys.readouterr().err
    expected = f"{path}: cannot read (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"
    assert [p for p in verify_output(copy) if str(path) in p] == [expected]
    pytest.importorskip("matplotlib")
    assert cli.main(["report", str(copy), "-o", str(tmp_path / "report")]) == 2
    assert f"{path}: cannot read (" in capsys.readouterr().err


def test_failures_json_is_counted_by_verify(copy):
    entries = [{"case": "a--b", "error": "boom"}, {"case": "a--c", "error": "x"}]
    (copy / "failures.json").write_text(json.dumps(entries), encoding="utf-8")
    assert OutputFolder(copy).failures == {"a--b": "boom", "a--c": "x"}
    assert f"{copy / 'failures.json'}: 2 case(s) failed to convert" in verify_output(copy)
