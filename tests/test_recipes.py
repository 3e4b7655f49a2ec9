"""Recipes (issue 12): every shipped recipe converts a miniature of its data set end to
end, with the data set's names; recipe files are checked field by field; the command
line lists, shows and uses them."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from helpers import run_cli
from miniatures import Label, Mask, Miniature, Volume, write_miniature
from samed2d_fast.naming import clean_field, parse_image_path, parse_mask_path
from samed2d_fast.recipes import builtin_recipes

MINIATURE_MODULES = [p.stem for p in sorted(Path(__file__).parent.glob("miniatures_*.py"))]


def _miniatures() -> dict:
    out = {}
    for module in MINIATURE_MODULES:
        for name, miniature in importlib.import_module(module).MINIATURES.items():
            assert name not in out, f"{name}: two miniatures"
            out[name] = miniature
    return out


MINIATURES = _miniatures()
RECIPES = {r.name: r for r in builtin_recipes()}


def test_every_recipe_has_a_miniature_and_every_miniature_a_recipe():
    assert sorted(RECIPES) == sorted(MINIATURES)


def test_at_least_25_recipes_covering_every_layout_family():
    from samed2d_fast.recipes import LAYOUTS

    assert len(RECIPES) >= 25
    assert {r.layout for r in RECIPES.values()} == set(LAYOUTS)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_converts_its_miniature(name, tmp_path):
    recipe, miniature = RECIPES[name], MINIATURES[name]
    assert isinstance(miniature, Miniature)
    root = write_miniature(tmp_path / "download", miniature)
    out = tmp_path / "out"
    code, stdout, stderr = run_cli("convert", str(root), str(out), "--recipe", name, "-j", "1", "--no-progress",
                                   *miniature.args)
    assert code == 0, stdout + stderr
    index = json.loads((out / "SAMed2D_v1.json").read_text())
    images = [parse_image_path(p) for p in index]
    masks = [parse_mask_path(m) for ms in index.values() for m in ms]
    assert sorted({i.dataset for i in images}) == [miniature.dataset or clean_field(recipe.dataset)]
    assert sorted({i.case for i in images}) == sorted(miniature.cases)
    assert sorted({i.modality for i in images}) == sorted(miniature.modalities)
    assert sorted({m.class_field for m in masks}) == sorted(miniature.class_ids)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed"] == 0
    assert summary["skipped_unlabelled"] == miniature.unlabelled
    mapping = json.loads((out / "SAMed2D_v1_class_mapping_id.json").read_text())
    for value, class_name in recipe.class_names.items():
        if f"{value:04d}" in miniature.class_ids:
            assert mapping[miniature.dataset or clean_field(recipe.dataset)][class_name] == f"{value:04d}"


# ---- recipe files: every bad field is named ----------------------------------------------

BASE = {
    "name": "mine", "title": "My data set", "dataset": "Mine", "layout": "paired-files",
    "source": ["ROOT: my folder"], "verified": "unverified",
    "classes": {"1": "organ"},
    "cases": [{"channels": [{"path": "img/{id}.nii.gz", "modality": "ct_00"}], "label": "lab/{id}.nii.gz",
               "fields": {"id": "[0-9]+"}, "case": "case{id}"}],
}


def _edited(**changes) -> dict:
    recipe = json.loads(json.dumps(BASE))
    for path, value in changes.items():
        *parents, last = path.split("__")
        obj = recipe
        for key in parents:
            obj = obj[int(key)] if isinstance(obj, list) else obj[key]
        if value is KeyError:
            del obj[last]
        else:
            obj[last] = value
    return recipe


def _recipe_file(tmp_path: Path, recipe: dict) -> Path:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(recipe))
    return path


def _ct_and_mr_recipe() -> dict:
    """AMOS-like: one folder, CT and MR cases told apart by the id's range (two rules)."""
    recipe = _edited(cases__0__fields__id="0[0-9]", cases__0__case="{id}")
    recipe["cases"].append({"channels": [{"path": "img/{id}.nii.gz", "modality": "mr_00"}],
                            "label": "lab/{id}.nii.gz", "case": "{id}"})
    return recipe


def _write_mine(root: Path, values=((1,), (1,)), unlabelled: int = 0) -> Path:

    files = {}
    for i, vals in enumerate(values):
        files[f"img/{i}.nii.gz"] = Volume()
        files[f"lab/{i}.nii.gz"] = Label(vals)
    for i in range(unlabelled):
        files[f"img/{len(values) + i}.nii.gz"] = Volume()
    write_miniature(root, Miniature(files, [], [], []))
    return root


@pytest.mark.parametrize("changes,field,why", [
    ({"cases__0__chanels": []}, "cases[0].chanels", r"unknown field \(did you mean 'channels'\?\)"),
    ({"verified": KeyError}, "verified", "missing"),
    ({"verified": "yes"}, "verified", '"yes" is not one of docs, nnunet-script, unverified'),
    ({"layout": "flat"}, "layout", "\"flat\" is not one of 2d-pairs, case-folders"),
    ({"name": "My Set"}, "name", "lower-case letters"),
    ({"cases__0__channels__0__modality": "mr_t9"}, "cases[0].channels[0].modality", '"mr_t9" is not one of'),
    ({"cases__0__channels__0__path": "../img/{id}.nii.gz"}, "cases[0].channels[0].path", r"'\.\.' path parts"),
    ({"cases__0__channels__0__path": "img/all.nii.gz"}, "cases[0].channels[0].path", r"must hold a field such as \{case\}"),
    ({"cases__0__label": "lab/{nr}.nii.gz"}, "cases[0].label", r"field \{nr\} is not matched"),
    ({"cases__0__label": "lab/{id.nii.gz"}, "cases[0].label", "unmatched '{'"),
    ({"cases__0__label_set": {"path": "x/{id}/*.nii.gz"}}, "cases[0]", "give one of 'label'"),
    ({"cases__0__fields__id": "[0-9"}, "cases[0].fields.id", "not a regular expression"),
    ({"cases__0__fields__id": "([0-9]+)"}, "cases[0].fields.id", "must not hold groups"),
    ({"cases__0__fields__id": "[0-9]*"}, "cases[0].fields.id", "must not match empty text"),
    ({"cases__0__case": "case{nr}"}, "cases[0].case", r"field \{nr\} is not matched"),
    ({"classes": {"0": "background"}}, "classes.0", "an integer of at least 1"),
    ({"classes": {"1": ""}}, "classes.1", "non-empty string"),
    ({"source": "one string"}, "source", "list of strings"),
    ({"cases": []}, "cases", "at least one"),
    ({"cases__0__channels__0__path": "{class}/{id}.nii.gz"}, "cases[0].channels[0].path",
     r"\{class\} is a label set's field"),
    ({"cases__0__fields__id": "(?i)[0-9]+"}, "cases[0].fields.id", "global flags not at the start"),
    ({"cases__0__fields__id": "[0-9]+$"}, "cases[0].fields.id", "must not hold anchors"),
    ({"cases__0__case": KeyError}, "cases[0]", r"give 'case', the case name as a template"),
    ({"classes": {"01": "organ"}}, "classes.01", "no leading 0"),
])
def test_a_bad_recipe_file_fails_naming_the_field(tmp_path, changes, field, why):
    import re

    path = _recipe_file(tmp_path, _edited(**changes))
    root = _write_mine(tmp_path / "src")
    code, out, err = run_cli("convert", str(root), str(tmp_path / "out"), "--recipe", str(path), "--no-progress")
    assert code == 2 and not (tmp_path / "out").exists()
    assert len(err.strip().splitlines()) == 1
    assert re.search(re.escape(f"{path}: {field}: ") + ".*" + why, err), err


def test_a_recipe_file_that_is_not_json_names_the_file(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text('{"name": "mine",')
    code, _, err = run_cli("recipes", "--show", str(path))
    assert code == 2 and f"{path}: cannot read" in err


def test_a_users_recipe_converts_with_its_names_and_the_command_lines_overrides(tmp_path):
    path = _recipe_file(tmp_path, BASE)
    root = _write_mine(tmp_path / "src", values=((1,), (1, 2)), unlabelled=1)
    (root / "img" / "notes.txt").write_text("x")
    (root / "lab" / "7.nii.gz").write_bytes((root / "lab" / "0.nii.gz").read_bytes())
    out = tmp_path / "out"
    code, stdout, err = run_cli("convert", str(root), str(out), "--recipe", str(path), "-j", "1", "--no-progress")
    assert code == 0, err
    index = json.loads((out / "SAMed2D_v1.json").read_text())
    assert {parse_image_path(p).case for p in index} == {"case0", "case1"}
    assert {parse_image_path(p).dataset for p in index} == {"Mine"}
    mapping = json.loads((out / "SAMed2D_v1_class_mapping_id.json").read_text())["Mine"]
    assert mapping == {"organ": "0001", "label_2": "0002"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped_unlabelled"] == 1
    assert summary["skipped"] == {"label without an image": 1, "not matched by the recipe's paths": 1}

    other = tmp_path / "other"
    code, _, err = run_cli("convert", str(root), str(other), "--recipe", str(path), "--dataset", "Yours",
                           "--modality", "mr_t2", "-j", "1", "--no-progress")
    assert code == 0, err
    names = [parse_image_path(p) for p in json.loads((other / "SAMed2D_v1.json").read_text())]
    assert {(n.dataset, n.modality) for n in names} == {("Yours", "mr_t2")}


def test_a_recipe_that_finds_no_case_says_what_it_looked_for_and_found(tmp_path):
    root = tmp_path / "src"
    (root / "scans").mkdir(parents=True)
    (root / "scans" / "a.nii.gz").write_bytes(b"")
    code, _, err = run_cli("convert", str(root), str(tmp_path / "out"), "--recipe", "kits19", "--no-progress")
    assert code == 2 and not (tmp_path / "out").exists()
    assert (f"{root}: recipe kits19 found no case: looked for {{case}}/imaging.nii.gz with "
            f"{{case}}/segmentation.nii.gz (fields: {{case}} = case_[0-9]{{5}}); found 1 file(s) in 2 folder(s): "
            f"scans/a.nii.gz") in err

    images_only = tmp_path / "images_only"
    (images_only / "case_00000").mkdir(parents=True)
    (images_only / "case_00000" / "imaging.nii.gz").write_bytes(b"")
    code, _, err = run_cli("convert", str(images_only), str(tmp_path / "out"), "--recipe", "kits19")
    assert code == 2 and "found 1 image(s) such as" in err and "none with a label" in err


def test_a_case_with_a_missing_channel_or_two_labels_fails_alone(tmp_path):
    recipe = _edited(cases__0__channels=[{"path": "img/{id}.nii.gz", "modality": "ct_00"},
                                         {"path": "pet/{id}*.nii.gz", "modality": "pet_00"}],
                     cases__0__label="lab/{id}*.nii.gz")
    path = _recipe_file(tmp_path, recipe)
    root = _write_mine(tmp_path / "src", values=((1,), (1,), (1,)))
    (root / "pet").mkdir()
    for i in range(3):
        (root / "pet" / f"{i}.nii.gz").write_bytes((root / "img" / f"{i}.nii.gz").read_bytes())
    (root / "pet" / "1.nii.gz").unlink()
    (root / "lab" / "2_copy.nii.gz").write_bytes((root / "lab" / "2.nii.gz").read_bytes())
    out = tmp_path / "out"
    code, stdout, err = run_cli("convert", str(root), str(out), "--recipe", str(path), "-j", "1", "--no-progress")
    assert code == 1
    failures = {f["case"]: f for f in json.loads((out / "failures.json").read_text())}
    assert sorted(failures) == ["Mine--case1", "Mine--case2"]
    assert f"case 'case1' has no channel 1 ({root}/pet/1*.nii.gz not found)" in failures["Mine--case1"]["error"]
    assert "2 paths match the label of case 'case2': keep one" in failures["Mine--case2"]["error"]
    assert {parse_image_path(p).case for p in json.loads((out / "SAMed2D_v1.json").read_text())} == {"case0"}


def test_rules_are_tried_in_order_and_a_file_is_one_rules(tmp_path):
    """AMOS-like: one folder, CT and MR told apart by the id's range."""
    path = _recipe_file(tmp_path, _ct_and_mr_recipe())
    root = tmp_path / "src"
    write_miniature(root, Miniature({"img/01.nii.gz": Volume(), "lab/01.nii.gz": Label((1,)),
                                     "img/12.nii.gz": Volume(), "lab/12.nii.gz": Label((1,))}, [], [], []))
    out = tmp_path / "out"
    code, _, err = run_cli("convert", str(root), str(out), "--recipe", str(path), "-j", "1", "--no-progress")
    assert code == 0, err
    names = {(n.case, n.modality) for n in map(parse_image_path, json.loads((out / "SAMed2D_v1.json").read_text()))}
    assert names == {("01", "ct_00"), ("12", "mr_00")}


def test_hidden_files_and_symlink_loops_are_skipped(tmp_path):
    path = _recipe_file(tmp_path, BASE)
    root = _write_mine(tmp_path / "src")
    (root / "img" / ".0.nii.gz").write_bytes(b"")
    (root / "lab" / "loop").symlink_to(root)
    code, stdout, err = run_cli("convert", str(root), str(tmp_path / "out"), "--recipe", str(path), "--dry-run")
    assert code == 0, err
    assert "1 skipped, hidden file" in stdout or "hidden" in stdout
    assert "symlink loop" in stdout


# ---- the command line -----------------------------------------------------------------


def test_recipes_lists_one_line_per_recipe():
    recipes = builtin_recipes()
    code, out, _ = run_cli("recipes")
    assert code == 0
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == len(recipes) + 1
    for line, recipe in zip(lines, recipes):
        assert line.startswith(recipe.name + " ") and f"|  {recipe.verified}  |" in line
        assert recipe.sources[0] in line and recipe.layout in line


def test_recipes_show_prints_the_recipe_and_what_it_finds(tmp_path):
    code, out, _ = run_cli("recipes", "--show", "kits19")
    assert code == 0 and json.loads(out) == json.loads(RECIPES["kits19"].text)
    root = write_miniature(tmp_path / "kits", MINIATURES["kits19"])
    code, out, _ = run_cli("recipes", "--show", "kits19", str(root))
    assert code == 0
    found = out[out.index("what it finds:"):]
    assert "2 cases, 1 images without a label" in found
    assert f"    ct_00      {root}/case_00000/imaging.nii.gz" in found
    assert f"    label      {root}/case_00000/segmentation.nii.gz" in found


def test_an_unknown_recipe_name_suggests_the_close_ones(tmp_path):
    code, _, err = run_cli("convert", str(tmp_path), str(tmp_path / "out"), "--recipe", "kits-19")
    assert code == 2 and "--recipe 'kits-19': no such recipe (did you mean kits19" in err
    code, _, err = run_cli("convert", "--images", "a*", "--labels", "b*", "--modality", "CT", str(tmp_path / "o"),
                           "--recipe", "kits19")
    assert code == 2 and "--recipe reads SRC folders" in err
    code, _, err = run_cli("recipes", str(tmp_path))
    assert code == 2 and "ROOT goes with --show NAME" in err


def test_the_readme_lists_every_recipe_and_its_examples_are_the_recipes():
    from samed2d_fast.recipes.listing import recipe_examples_markdown, recipe_markdown

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for generated in (recipe_markdown(builtin_recipes()), recipe_examples_markdown(builtin_recipes())):
        assert generated in readme, "README's recipes are stale: paste python -m samed2d_fast.recipes.listing"


def test_a_recipes_overlap_is_the_runs_unless_the_command_line_says_otherwise(tmp_path):

    recipe = _edited(layout="label-sets", cases__0__channels=[{"path": "{case}/ct.nii.gz", "modality": "ct_00"}],
                     cases__0__label=KeyError, cases__0__fields=KeyError, cases__0__case=KeyError)
    recipe["cases"][0]["label_set"] = {"path": "{case}/masks/{class}.nii.gz"}
    recipe.update(overlap="separate", classes={"1": "a", "2": "b"})
    path = _recipe_file(tmp_path, recipe)
    root = write_miniature(tmp_path / "src", Miniature(
        {"s1/ct.nii.gz": Volume(), "s1/masks/a.nii.gz": Mask(0), "s1/masks/b.nii.gz": Mask(0)}, [], [], []))
    out = tmp_path / "out"
    code, _, err = run_cli("convert", str(root), str(out), "--recipe", str(path), "-j", "1", "--no-progress")
    assert code == 0, err
    classes = {parse_mask_path(m).class_field for ms in json.loads((out / "SAMed2D_v1.json").read_text()).values()
               for m in ms}
    assert classes == {"0001", "0002"}  # the same voxels, once per class
    assert json.loads((out / ".samed2d" / "settings.json").read_text())["overlap"] == "separate"
    code, _, err = run_cli("convert", str(root), str(tmp_path / "strict"), "--recipe", str(path), "--overlap",
                           "error", "-j", "1", "--no-progress")
    assert code == 1 and "overlap" in (tmp_path / "strict" / "failures.json").read_text()


def test_a_recipes_series_picks_one_series_of_a_folder(tmp_path):
    from formats_helpers import write_dicom_series
    from miniatures import AFFINE, volume_array

    root = tmp_path / "src"
    arr = volume_array(Volume("int16"), 0)
    write_dicom_series(root / "p1" / "dicom", arr, AFFINE, series_uid="1.2.3.1", prefix="A")
    write_dicom_series(root / "p1" / "dicom", arr[::-1].copy(), AFFINE, series_uid="1.2.3.2", prefix="B",
                       series_number=2)
    write_miniature(root, Miniature({"p1/label.nii.gz": Label((1,))}, [], [], []))
    recipe = _edited(layout="dicom-series", cases__0__channels=[{"path": "{case}/dicom/", "modality": "ct_00"}],
                     cases__0__label="{case}/label.nii.gz", cases__0__fields=KeyError, cases__0__case=KeyError)
    path = _recipe_file(tmp_path, recipe)
    code, _, err = run_cli("convert", str(root), str(tmp_path / "out"), "--recipe", str(path), "-j", "1",
                           "--no-progress")
    assert code == 1 and "1.2.3.1" in (tmp_path / "out" / "failures.json").read_text()
    recipe["cases"][0]["series"] = "1.2.3.1"
    path.write_text(json.dumps(recipe))
    code, _, err = run_cli("convert", str(root), str(tmp_path / "picked"), "--recipe", str(path), "-j", "1",
                           "--no-progress")
    assert code == 0, err
    summary = json.loads((tmp_path / "picked" / "summary.json").read_text())
    assert summary["cases"] == 1 and summary["skipped"] == {}


def test_dry_run_with_a_recipe_checks_every_case_from_its_headers(tmp_path):
    root = write_miniature(tmp_path / "kits", MINIATURES["kits19"])
    code, out, err = run_cli("convert", str(root), str(tmp_path / "out"), "--recipe", "kits19", "--dry-run")
    assert code == 0, err
    assert "KiTS19  [recipe kits19]" in out and "case_00000: ct_00" in out and "case_00001: ct_00" in out
    assert not (tmp_path / "out").exists()


def test_an_empty_recipe_name_is_an_error(tmp_path):
    code, _, err = run_cli("convert", str(tmp_path), str(tmp_path / "out"), "--recipe", "")
    assert code == 2 and "--recipe: give a recipe name" in err


# ---- what the review of the finder found -------------------------------------------------


def _convert(root, out, recipe, *extra):
    return run_cli("convert", str(root), str(out), "--recipe", str(recipe), "-j", "1", "--no-progress", *extra)


def test_a_resume_with_another_recipe_or_an_edited_one_is_refused(tmp_path):
    root = write_miniature(tmp_path / "kits", MINIATURES["kits19"])
    out = tmp_path / "out"
    assert _convert(root, out, "kits19")[0] == 0
    before = sorted(p.name for p in (out / "images").iterdir())
    code, _, err = _convert(root, out, "kits23", "--resume")
    assert code == 2 and f"{root.resolve()} is in OUT as data set 'KiTS19'" in err and "twice" in err
    mine = json.loads(RECIPES["kits19"].text)
    mine["notes"] = ["edited"]
    path = tmp_path / "kits19.json"
    path.write_text(json.dumps(mine))
    code, _, err = _convert(root, out, path, "--resume")
    assert code == 2 and "it is read with the recipe kits19 sha256:" in err and "convert into a new OUT" in err
    assert sorted(p.name for p in (out / "images").iterdir()) == before
    assert _convert(root, out, "kits19", "--resume")[0] == 0


def test_a_recipes_data_set_keeps_its_declared_tags_as_cases_arrive(tmp_path):

    path = _recipe_file(tmp_path, _ct_and_mr_recipe())
    root = write_miniature(tmp_path / "src", Miniature({"img/01.nii.gz": Volume(), "lab/01.nii.gz": Label((1,))},
                                                       [], [], []))
    out = tmp_path / "out"
    assert _convert(root, out, path)[0] == 0
    write_miniature(root, Miniature({"img/12.nii.gz": Volume(), "lab/12.nii.gz": Label((1,))}, [], [], []))
    code, _, err = _convert(root, out, path, "--resume")
    assert code == 0, err
    assert run_cli("verify", str(out), "--deep")[0] == 0


def test_a_rule_without_the_label_leaves_the_case_to_the_next_rule(tmp_path):
    """BraTS 2020's rule for case 355's misnamed label, when the user renamed the file."""

    recipe = _edited(cases__0__label="lab/{id}_odd.nii.gz", cases__0__fields__id="1")
    recipe["cases"].append({"channels": [{"path": "img/{id}.nii.gz", "modality": "ct_00"}],
                            "label": "lab/{id}.nii.gz", "case": "case{id}"})
    path = _recipe_file(tmp_path, recipe)
    root = _write_mine(tmp_path / "src", values=((1,), (1,)))
    out = tmp_path / "out"
    code, _, err = _convert(root, out, path)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cases"] == 2 and summary["skipped_unlabelled"] == 0 and summary["skipped"] == {}


def test_a_file_of_an_earlier_rules_case_is_not_a_later_rules_image(tmp_path):
    recipe = _edited()
    recipe["cases"].append({"channels": [{"path": "{dir}/{id}.nii.gz", "modality": "ct_00"}],
                            "case": "other{id}"})
    path = _recipe_file(tmp_path, recipe)
    root = _write_mine(tmp_path / "src")
    code, out, err = run_cli("convert", str(root), str(tmp_path / "out"), "--recipe", str(path), "--dry-run")
    assert code == 0, err
    assert "2 cases, 0 images without a label" in out


def test_a_failing_case_owns_its_files_and_one_case_name_for_two_cases_fails_both(tmp_path):

    recipe = _edited(cases__0__channels=[{"path": "{site}/img/{id}.nii.gz", "modality": "ct_00"},
                                         {"path": "{site}/pet/{id}.nii.gz", "modality": "pet_00"}],
                     cases__0__label="{site}/lab/{id}*.nii.gz", cases__0__case="{id}", cases__0__fields=KeyError)
    path = _recipe_file(tmp_path, recipe)
    files = {}
    for site in ("A", "B", "C"):
        files.update({f"{site}/img/{site.lower()}.nii.gz": Volume(), f"{site}/lab/{site.lower()}.nii.gz": Label((1,))})
    files.update({"A/pet/a.nii.gz": Volume(), "B/pet/b.nii.gz": Volume()})  # C has no PET: fails
    files.update({"A/img/x.nii.gz": Volume(), "A/pet/x.nii.gz": Volume(), "A/lab/x.nii.gz": Label((1,)),
                  "B/img/x.nii.gz": Volume(), "B/pet/x.nii.gz": Volume(), "B/lab/x.nii.gz": Label((1,)),
                  "B/lab/x_copy.nii.gz": Label((1,))})
    root = write_miniature(tmp_path / "src", Miniature(files, [], [], []))
    code, out, err = run_cli("convert", str(root), str(tmp_path / "out"), "--recipe", str(path), "--dry-run")
    assert code == 1
    assert " skipped, " not in out  # C's image and label are its failed case's, not skipped files
    assert f"ERROR {root}/C/img/c.nii.gz: case 'c' has no channel 1" in out
    assert f"ERROR {root}/A/img/x.nii.gz, {root}/B/img/x.nii.gz: 2 cases are named 'x'" in out
    assert "  a: ct_00 pet_00" in out and "  b: ct_00 pet_00" in out


def test_symbolic_links_to_one_folder_are_read_once(tmp_path):
    path = _recipe_file(tmp_path, _edited(cases__0__channels__0__path="{dir}/img/{id}.nii.gz",
                                          cases__0__label="{dir}/lab/{id}.nii.gz", cases__0__case="{dir}{id}"))
    data = _write_mine(tmp_path / "data")
    root = tmp_path / "src"
    root.mkdir()
    (root / "latest").symlink_to(data)
    (root / "v1").symlink_to(data)
    code, out, err = run_cli("convert", str(root), str(tmp_path / "out"), "--recipe", str(path), "--dry-run")
    assert code == 0, err
    assert "2 cases," in out and "folder reached twice through symbolic links" in out


def test_symbolic_link_diamonds_are_walked_once(tmp_path):
    """Each folder links twice to the next: walking every path would list 2^15 folders."""
    from samed2d_fast.recipes.find import _Tree

    root = tmp_path / "src"
    folders = [root / f"d{i}" for i in range(16)]
    for folder in folders:
        folder.mkdir(parents=True)
        (folder / "f.txt").write_text("x")
    for a, b in zip(folders, folders[1:]):
        (a / "l1").symlink_to(b)
        (a / "l2").symlink_to(b)
    skipped = {}
    tree = _Tree(root, skipped)
    assert len(tree.files) == 16
