"""Metadata: pending class ids, their files, and runs that end the same however they got there."""

from __future__ import annotations

import json

import numpy as np
import pytest

import samed2d_fast as sf
from helpers import save_nifti, tree_bytes
from samed2d_fast import metadata


def _case(tmp_path, name, outer, inner):
    """A volume whose label `outer` rings label `inner` on every z slice (a union class)."""
    lab = np.zeros((24, 24, 6), np.uint8)
    lab[4:20, 4:20, :] = outer
    lab[8:16, 8:16, :] = inner
    img = save_nifti(tmp_path / f"{name}_img.nii.gz", np.arange(lab.size, dtype=np.int16).reshape(lab.shape))
    return img, save_nifti(tmp_path / f"{name}_lab.nii.gz", lab)


NAMES = {1: "a_organ", 2: "b_lesion", 3: "c_organ", 4: "d_lesion", 5: "b_organ", 6: "c_lesion"}


def _convert(tmp_path, out, name, outer, inner):
    img, lab = _case(tmp_path, name, outer, inner)
    return sf.convert_case(img, lab, out, dataset="ds", modality="ct_00", case=name, class_names=NAMES,
                           consolidate="union")


def _final_files_match_json(out):
    release = json.loads((out / "SAMed2D_v1.json").read_text())
    listed = {m for masks in release.values() for m in masks}
    on_disk = {f"masks/{p.name}" for p in (out / "masks").iterdir()}
    assert listed == on_disk
    return release


def test_adding_a_union_class_that_sorts_first_moves_the_others(tmp_path):
    out = tmp_path / "out"
    first = [_convert(tmp_path, out, "p1", 3, 4)]  # union_c_organ_d_lesion
    sf.write_metadata(out, first)
    mapping = json.loads((out / "SAMed2D_v1_class_mapping_id.json").read_text())["ds"]
    assert mapping["union_c_organ_d_lesion"] == "0007"  # after the largest declared id, 6
    second = first + [_convert(tmp_path, out, "p2", 1, 2)]  # union_a_organ_b_lesion sorts first
    sf.write_metadata(out, second)
    mapping = json.loads((out / "SAMed2D_v1_class_mapping_id.json").read_text())["ds"]
    assert mapping["union_a_organ_b_lesion"] == "0007" and mapping["union_c_organ_d_lesion"] == "0008"
    _final_files_match_json(out)
    # The same two cases converted and finished in one go give the same bytes.
    again = tmp_path / "again" / "out"
    sf.write_metadata(again, [_convert(tmp_path, again, "p1", 3, 4), _convert(tmp_path, again, "p2", 1, 2)])
    assert tree_bytes(out) == tree_bytes(again)


@pytest.mark.parametrize("kill_after", [1, 3, 5])
def test_killed_while_moving_files_then_run_again(tmp_path, monkeypatch, kill_after):
    out = tmp_path / "out"
    records = [_convert(tmp_path, out, "p1", 3, 4)]
    sf.write_metadata(out, records)
    records.append(_convert(tmp_path, out, "p2", 1, 2))
    real_replace = metadata.os.replace
    calls = {"n": 0}

    def dying_replace(src, dst):
        calls["n"] += 1
        if calls["n"] > kill_after:
            raise KeyboardInterrupt  # stands for a kill between two renames
        real_replace(src, dst)

    monkeypatch.setattr(metadata.os, "replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        sf.write_metadata(out, records)
    monkeypatch.setattr(metadata.os, "replace", real_replace)
    sf.write_metadata(out, records)
    _final_files_match_json(out)
    reference = tmp_path / "ref" / "out"
    sf.write_metadata(reference, [_convert(tmp_path, reference, "p1", 3, 4), _convert(tmp_path, reference, "p2", 1, 2)])
    assert tree_bytes(out) == tree_bytes(reference)


def test_is_test_case_matches_spec_formula():
    import hashlib

    for key in ("ds--case1", "ds--case2", "other--x"):
        value = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 2**32
        assert metadata.is_test_case(key, 0.2) == (value < 0.2)
    assert not metadata.is_test_case("ds--case1", 0.0) and metadata.is_test_case("ds--case1", 1.0)
