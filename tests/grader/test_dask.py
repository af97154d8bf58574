"""Grading on Dask distributed: a two-worker LocalCluster on loopback gives exactly the
process pool's grades, through a `tcp://` scheduler address as a real cluster would."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.classroom import grade_class
from grader.intake import SubmissionError
from grader.samples import build_sample_class

distributed = pytest.importorskip("distributed", reason="the optional extra: pip install -e '.[dask]'")
from grader.dask_backend import parse_address  # noqa: E402

STUDENTS = ["ada", "dev", "gia", "nora", "omar"]  # the reference, two bugs, an empty folder, a .zip
SECRET = "dask-tests"


def small_class(base: Path) -> Path:
    klass = build_sample_class(base / "class")
    for entry in klass.iterdir():
        if entry.name.removesuffix(".zip") not in STUDENTS:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    return klass


@pytest.mark.slow
def test_a_two_worker_cluster_gives_the_process_pools_grades(tmp_path: Path) -> None:
    klass = small_class(tmp_path)
    pool = grade_class(klass, tmp_path / "pool", jobs=2, secret=SECRET, progress=False)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None, processes=True
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        dask = grade_class(klass, tmp_path / "dask", secret=SECRET, progress=False, dask=address)
        assert sorted(dask.graded) == STUDENTS and not dask.failed
        assert (tmp_path / "dask" / "grades.csv").read_text() == (tmp_path / "pool" / "grades.csv").read_text()
        for a, b in zip(pool.results, dask.results):
            assert [(c.id, c.score, c.output) for c in a.checks] == [(c.id, c.score, c.output) for c in b.checks]
        again = grade_class(klass, tmp_path / "dask", secret=SECRET, progress=False, dask=address)
        assert sorted(again.reused) == STUDENTS and not again.graded


@pytest.mark.parametrize("bad", ["local:0", "local:x", "http://host:1", "tcp://nohost", "8786"])
def test_bad_addresses_are_refused_with_the_expected_forms(bad: str) -> None:
    with pytest.raises(SubmissionError, match="local:N"):
        parse_address(bad)


def test_addresses() -> None:
    assert parse_address("local:3") == ("local", 3)
    assert parse_address("tcp://10.0.0.5:8786") == ("tcp", 0)
