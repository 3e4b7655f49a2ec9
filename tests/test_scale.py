"""Scale-out: shards merged, and Dask clusters, give the bytes of one plain run."""

from __future__ import annotations

import pytest

from helpers import LOCKS, kill_worker_on_first_try, tree_bytes, write_nnunet_folder
from samed2d_fast import cli, runner
from samed2d_fast.datasets import find_dataset
from samed2d_fast.executors import run_dask
from samed2d_fast.options import Options


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return write_nnunet_folder(tmp_path_factory.mktemp("raw") / "ScaleSet", n_cases=8)


@pytest.fixture(scope="module")
def plain_run(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("plain") / "out"
    assert cli.main(["convert", str(source), str(out), "-j", "2", "--no-progress", "--consolidate", "union"]) == 0
    return tree_bytes(out)


def test_four_shards_merged_equal_one_run(source, plain_run, tmp_path, capsys):
    out = tmp_path / "out"
    for index in (2, 0, 3, 1):  # any order; shards share OUT
        args = ["convert", str(source), str(out), "-j", "1", "--no-progress", "--consolidate", "union",
                "--num-shards", "4", "--shard-index", str(index)]
        assert cli.main(args) == 0
        assert "samed2d merge" in capsys.readouterr().out
    assert not (out / "SAMed2D_v1.json").exists()  # nothing final before the merge
    assert cli.main(["merge", str(out)]) == 0
    settings = ".samed2d/settings.json"  # holds --num-shards
    assert tree_bytes(out, (LOCKS, settings)) == {k: v for k, v in plain_run.items() if k != settings}


def test_shards_own_disjoint_cases_covering_all(source):
    keys = [spec.key for spec in find_dataset(source).cases]
    owners = [[k for k in keys if runner.Shard(i, 3).owns(k)] for i in range(3)]
    assert sorted(sum(owners, [])) == sorted(keys)


def test_slurm_array_defaults(monkeypatch):
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "5")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "12")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "10")
    assert runner.Shard.from_slurm(None, None) == runner.Shard(2, 5)
    assert runner.Shard.from_slurm(8, 7) == runner.Shard(7, 8)
    with pytest.raises(runner.RunError):
        runner.Shard.from_slurm(4, 4)


def test_merge_without_records_is_an_error(tmp_path, capsys):
    assert cli.main(["merge", str(tmp_path)]) == 2
    assert "no converted cases" in capsys.readouterr().err


def test_dask_local_cluster_equals_local_pool(source, plain_run, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    args = ["convert", str(source), str(out), "--executor", "dask", "-j", "2", "--no-progress",
            "--consolidate", "union"]
    assert cli.main(args) == 0
    assert tree_bytes(out) == plain_run


def test_dask_worker_killed_during_a_task(source, tmp_path):
    """The worker running case01 dies; Dask runs the case again elsewhere and nothing is lost."""
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    specs = find_dataset(source).cases
    results = list(run_dask(specs, out, Options(), workers=2, task=kill_worker_on_first_try))
    assert (tmp_path / "killed-case01").exists()
    assert sorted(r.key for r in results) == sorted(s.key for s in specs)
    assert all(r.error is None for r in results)
    reference = tmp_path / "ref"
    list(run_dask(specs, reference, Options(), workers=1))
    assert tree_bytes(out / "images") == tree_bytes(reference / "images")
    assert tree_bytes(out / "masks") == tree_bytes(reference / "masks")
    runner.finish(out)  # the end of a run: stray temporary files of the dead worker go
    assert not list(out.rglob("*.tmp"))


def test_merge_uses_the_shards_test_fraction(source, tmp_path):
    out = tmp_path / "out"
    for index in range(2):
        assert cli.main(["convert", str(source), str(out), "-j", "1", "--no-progress", "--test-fraction", "1",
                         "--num-shards", "2", "--shard-index", str(index)]) == 0
    assert cli.main(["merge", str(out)]) == 0
    import json

    assert json.loads((out / "image2label_train.json").read_text()) == {}
    assert json.loads((out / "label2image_test.json").read_text())


def test_scheduler_address_of_a_running_cluster(source, plain_run, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  host="127.0.0.1") as cluster:
        out = tmp_path / "out"
        assert cli.main(["convert", str(source), str(out), "--scheduler", cluster.scheduler_address,
                         "--no-progress", "--consolidate", "union"]) == 0
    assert tree_bytes(out) == plain_run
