"""--format webdataset: shards readable by tar and webdataset, the same bytes however made."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from helpers import LOCKS, tree_bytes, write_nnunet_folder
from samed2d_fast import cli
from samed2d_fast.webdataset import parse_size, sample_key


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return write_nnunet_folder(tmp_path_factory.mktemp("raw") / "WdsSet", n_cases=6, seed=3)


def run(*args):
    return cli.main(["convert", *map(str, args), "--no-progress", "--format", "webdataset", "--shard-size", "150KB"])


@pytest.fixture(scope="module")
def packed(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "out"
    assert run(source, out, "-j", "1", "--consolidate", "union") == 0
    return out


def test_shards_hold_every_sample_and_nothing_loose(packed):
    release = json.loads((packed / "SAMed2D_v1.json").read_text())
    index = json.loads((packed / "webdataset" / "index.json").read_text())
    assert sorted(index) == sorted(sample_key(i) for i in release)
    assert len(set(index.values())) > 1  # cut at the shard size
    assert not (packed / "images").exists() and not (packed / "masks").exists()
    assert cli.main(["verify", str(packed)]) == 0
    image, masks = next((i, m) for i, m in sorted(release.items()) if m)
    key = sample_key(image)
    with tarfile.open(packed / "webdataset" / index[key]) as tar:
        names = tar.getnames()
        info = json.loads(tar.extractfile(f"{key}.json").read())
        first_mask = tar.extractfile(names[names.index(f"{key}.png") + 1]).read()
    assert names[names.index(f"{key}.png") + len(masks) + 1] == f"{key}.json"  # image, masks, json
    assert info["image"] == image and [m["file"] for m in info["masks"]] == masks
    box = info["masks"][0]
    mask = np.asarray(Image.open(io.BytesIO(first_mask)))
    assert box["area"] == int((mask == 255).sum())
    r0, c0, r1, c1 = box["bbox"]
    assert mask[r0:r1, c0:c1].any() and not mask.sum() - mask[r0:r1, c0:c1].sum()


def test_webdataset_package_reads_the_shards(packed):
    wds = pytest.importorskip("webdataset")
    shards = sorted(str(p) for p in (packed / "webdataset").glob("shard-*.tar"))
    samples = list(wds.WebDataset(shards, shardshuffle=False))
    release = json.loads((packed / "SAMed2D_v1.json").read_text())
    assert len(samples) == len(release)
    for sample in samples:
        info = json.loads(sample["json"])
        assert len([k for k in sample if k.endswith("png") and k != "png"]) == len(info["masks"])


def test_same_bytes_for_workers_shards_and_resume(source, packed, tmp_path):
    two = tmp_path / "two" / "out"
    assert run(source, two, "-j", "2", "--consolidate", "union") == 0
    assert tree_bytes(two) == tree_bytes(packed)
    sharded = tmp_path / "sharded" / "out"
    for index in range(3):
        assert run(source, sharded, "-j", "1", "--consolidate", "union", "--num-shards", 3, "--shard-index", index) == 0
    assert cli.main(["merge", str(sharded)]) == 0
    not_sharding = (LOCKS, ".samed2d/settings.json")  # settings hold --num-shards
    assert tree_bytes(sharded, not_sharding) == tree_bytes(packed, not_sharding)
    assert cli.main(["merge", str(sharded)]) == 0  # merging again changes nothing
    assert tree_bytes(sharded, not_sharding) == tree_bytes(packed, not_sharding)


def test_adding_cases_to_a_packed_output(source, packed, tmp_path):
    """Samples whose loose files are gone are read back from the old shards: a packed output
    extended by a resume equals one run of everything."""
    out = tmp_path / "copy" / "out"
    import shutil

    shutil.copytree(packed, out)
    more = write_nnunet_folder(tmp_path / "More", n_cases=1, seed=9)
    assert run(source, more, out, "--consolidate", "union", "--resume") == 0
    both = tmp_path / "both" / "out"
    assert run(source, more, both, "--consolidate", "union") == 0
    assert tree_bytes(out) == tree_bytes(both)


def test_colliding_keys_fail_both_cases(tmp_path, capsys):
    src = write_nnunet_folder(tmp_path / "Dots", n_cases=2, seed=4)
    (src / "imagesTr" / "case00_0000.nii.gz").rename(src / "imagesTr" / "a.b_0000.nii.gz")
    (src / "labelsTr" / "case00.nii.gz").rename(src / "labelsTr" / "a.b.nii.gz")
    (src / "imagesTr" / "case01_0000.nii.gz").rename(src / "imagesTr" / "a_b_0000.nii.gz")
    (src / "labelsTr" / "case01.nii.gz").rename(src / "labelsTr" / "a_b.nii.gz")
    assert run(src, tmp_path / "out") == 1
    failures = json.loads((tmp_path / "out" / "failures.json").read_text())
    assert len(failures) == 1 and "a.b_0000" in failures[0]["error"] and "a_b_0000" in failures[0]["error"]
    assert "collide" in capsys.readouterr().out


def test_parse_size():
    assert parse_size("1GB") == 10**9 and parse_size("500MB") == 5 * 10**8
    assert parse_size("2GiB") == 2 * 2**30 and parse_size("1234") == 1234
    with pytest.raises(ValueError):
        parse_size("lots")
