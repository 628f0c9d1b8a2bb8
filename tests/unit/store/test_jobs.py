"""Tests for runner.store.jobs: the SQLite job store."""

from __future__ import annotations

import copy
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.shapes import status
from runner.store.jobs import JobExists, JobNotFound, LogLine, Store, default_home

T0 = 1_700_000_000.0


def make_record(name: str, created: float = T0) -> dict[str, Any]:
    return status.new_record({"TrainingJobName": name},
                             f"arn:aws:sagemaker:us-east-1:0:training-job/{name}", created)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "home")
    yield s
    s.close()


def test_home_is_created_and_resolved(tmp_path: Path) -> None:
    s = Store(tmp_path / "a" / "b" / ".." / "c")
    try:
        assert s.home == (tmp_path / "a" / "c").resolve()
        assert (s.home / "smlocal.db").is_file()
        assert s.jobs_dir("j") == s.home / "jobs" / "j"
    finally:
        s.close()


def test_default_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SMLOCAL_HOME", str(tmp_path / "h"))
    assert default_home() == tmp_path / "h"
    monkeypatch.delenv("SMLOCAL_HOME")
    monkeypatch.chdir(tmp_path)
    assert default_home() == tmp_path / ".smlocal"


def test_create_and_read_back(store: Store) -> None:
    record = make_record("job-1")
    request = {"TrainingJobName": "job-1", "HyperParameters": {"a": "1"}}
    local = {"StopGracePeriodSeconds": 5.0}
    store.create_training_job(record, request, local)
    assert store.has_training_job("job-1")
    assert not store.has_training_job("job-2")
    assert store.record("job-1") == record
    assert store.request("job-1") == (request, local)


def test_duplicate_name(store: Store) -> None:
    store.create_training_job(make_record("job-1"), {}, {})
    with pytest.raises(JobExists) as exc:
        store.create_training_job(make_record("job-1", T0 + 5), {"other": 1}, {})
    assert exc.value.name == "job-1"
    assert str(exc.value) == "Training job job-1 already exists"
    assert store.record("job-1")["CreationTime"] == T0
    assert store.request("job-1") == ({}, {})


def test_save_record_round_trip(store: Store) -> None:
    record = make_record("job-1")
    store.create_training_job(record, {}, {})
    status.advance(record, "Downloading", T0 + 1)
    status.advance(record, "Training", T0 + 2)
    record["FinalMetricDataList"] = [{"MetricName": "loss", "Value": 0.25, "Timestamp": T0 + 2}]
    status.advance(record, "Completed", T0 + 3)
    store.save_record(record)
    got = store.record("job-1")
    assert got == record
    assert got is not record
    assert got["TrainingJobStatus"] == "Completed"
    assert [t["Status"] for t in got["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Completed",
    ]


def test_record_is_a_fresh_copy(store: Store) -> None:
    store.create_training_job(make_record("job-1"), {}, {})
    got = store.record("job-1")
    got["TrainingJobStatus"] = "Mangled"
    assert store.record("job-1")["TrainingJobStatus"] == "InProgress"


def test_list_in_creation_order_and_by_tuning_job(store: Store) -> None:
    store.create_training_job(make_record("c", T0 + 2), {}, {}, tuning_job="tune-1")
    store.create_training_job(make_record("a", T0), {}, {})
    store.create_training_job(make_record("b", T0 + 1), {}, {}, tuning_job="tune-1")
    store.create_training_job(make_record("d", T0 + 3), {}, {}, tuning_job="tune-2")
    assert [r["TrainingJobName"] for r in store.list_training_jobs()] == ["a", "b", "c", "d"]
    assert [r["TrainingJobName"] for r in store.list_training_jobs("tune-1")] == ["b", "c"]
    assert [r["TrainingJobName"] for r in store.list_training_jobs("tune-2")] == ["d"]
    assert store.list_training_jobs("tune-3") == []


def test_list_shows_saved_records(store: Store) -> None:
    record = make_record("a")
    store.create_training_job(record, {}, {})
    status.advance(record, "Failed", T0 + 1)
    store.save_record(record)
    [listed] = store.list_training_jobs()
    assert listed["TrainingJobStatus"] == "Failed"


def test_request_stop_is_idempotent(store: Store, tmp_path: Path) -> None:
    store.create_training_job(make_record("job-1"), {}, {})
    store.create_training_job(make_record("job-2"), {}, {})
    assert not store.stop_requested("job-1")
    store.request_stop("job-1", T0 + 10)
    store.request_stop("job-1", T0 + 20)
    assert store.stop_requested("job-1")
    assert not store.stop_requested("job-2")
    # The first request's time is kept.
    db = sqlite3.connect(store.home / "smlocal.db")
    try:
        row = db.execute("SELECT stop_requested FROM training_jobs WHERE name = 'job-1'").fetchone()
    finally:
        db.close()
    assert row == (T0 + 10,)


def test_unknown_job(store: Store) -> None:
    for call in (
        lambda: store.record("ghost"),
        lambda: store.request("ghost"),
        lambda: store.request_stop("ghost", T0),
        lambda: store.stop_requested("ghost"),
    ):
        with pytest.raises(JobNotFound) as exc:
            call()
        assert exc.value.name == "ghost"
        assert str(exc.value) == "Could not find job ghost"


def test_metric_series_in_time_order(store: Store) -> None:
    store.add_metrics("job-1", [("loss", 0.9, T0 + 1), ("acc", 0.1, T0 + 1)])
    # Out of time order (two streams pumped by two threads), and a tie at T0 + 3.
    store.add_metrics("job-1",
                      [("loss", 0.5, T0 + 3), ("loss", 0.7, T0 + 2), ("loss", 0.4, T0 + 3)])
    store.add_metrics("job-2", [("loss", 9.0, T0)])
    assert store.metric_series("job-1") == {
        "loss": [(T0 + 1, 0.9), (T0 + 2, 0.7), (T0 + 3, 0.5), (T0 + 3, 0.4)],
        "acc": [(T0 + 1, 0.1)],
    }
    assert store.metric_series("job-2") == {"loss": [(T0, 9.0)]}
    assert store.metric_series("none") == {}


def test_metric_points_of_one_metric_in_a_window(store: Store) -> None:
    store.add_metrics("job-1", [("loss", 0.5, T0 + 3), ("loss", 0.7, T0 + 2), ("acc", 0.1, T0 + 2),
                                ("loss", 0.9, T0 + 1), ("loss", 0.4, T0 + 3)])
    store.add_metrics("job-2", [("loss", 9.0, T0 + 2)])
    assert store.metric_points("job-1", "loss") == [
        (T0 + 1, 0.9), (T0 + 2, 0.7), (T0 + 3, 0.5), (T0 + 3, 0.4)]
    # since <= ts < until
    assert store.metric_points("job-1", "loss", T0 + 2, T0 + 3) == [(T0 + 2, 0.7)]
    assert store.metric_points("job-1", "gone") == []


def test_metric_keys_name_each_series_once_with_its_last_time(store: Store) -> None:
    assert store.metric_keys() == []
    store.add_metrics("job-2", [("loss", 9.0, T0 + 5)])
    store.add_metrics("job-1", [("loss", 0.5, T0 + 3), ("acc", 0.1, T0 + 2), ("loss", 0.9, T0 + 1)])
    assert store.metric_keys() == [("job-1", "acc", T0 + 2), ("job-1", "loss", T0 + 3),
                                   ("job-2", "loss", T0 + 5)]


def test_logs_add_and_read(store: Store) -> None:
    store.add_logs("job-1", [("algo-1", "stdout", T0, "one"), ("algo-1", "stderr", T0 + 1, "two")])
    store.add_logs("job-2", [("algo-1", "stdout", T0, "other job")])
    store.add_logs("job-1", [("algo-1", "stdout", T0 + 2, "three")])
    lines = store.logs("job-1")
    assert [(x.host, x.stream, x.ts, x.line) for x in lines] == [
        ("algo-1", "stdout", T0, "one"),
        ("algo-1", "stderr", T0 + 1, "two"),
        ("algo-1", "stdout", T0 + 2, "three"),
    ]
    assert all(isinstance(x, LogLine) for x in lines)
    seqs = [x.seq for x in lines]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert [x.line for x in store.logs("job-1", after=seqs[0])] == ["two", "three"]
    assert store.logs("job-1", after=seqs[-1]) == []
    assert [x.line for x in store.logs("job-1", limit=2)] == ["one", "two"]
    assert [x.line for x in store.logs("job-2")] == ["other job"]


def test_logs_empty_batch(store: Store) -> None:
    store.add_logs("job-1", [])
    assert store.logs("job-1") == []
    assert store.tail_logs("job-1", 5) == []
    assert list(store.iter_logs("job-1")) == []


def test_logs_across_more_than_one_page(store: Store) -> None:
    total = 12_345
    store.add_logs("job-1",
                   ((f"algo-{i % 2 + 1}", "stdout", T0 + i, f"line {i}") for i in range(total)))
    store.add_logs("job-2", [("algo-1", "stdout", T0, "not mine")])
    first = store.logs("job-1")
    assert len(first) == 5000
    assert first[-1].line == "line 4999"
    assert [x.line for x in store.logs("job-1", after=first[-1].seq, limit=3)] == [
        "line 5000", "line 5001", "line 5002",
    ]
    every = list(store.iter_logs("job-1"))
    assert [x.line for x in every] == [f"line {i}" for i in range(total)]
    assert every[1].host == "algo-2"
    assert ([x.line for x in store.tail_logs("job-1", 3)] == ["line 12342", "line 12343",
                                                              "line 12344"])
    assert len(store.tail_logs("job-1", 100_000)) == total


def test_add_logs_is_all_or_nothing(store: Store) -> None:
    store.add_logs("job-1", [("algo-1", "stdout", T0, "kept")])

    def lines() -> Iterator[tuple[str, str, float, str]]:
        yield ("algo-1", "stdout", T0 + 1, "half")
        raise RuntimeError("reader died")

    with pytest.raises(RuntimeError, match="reader died"):
        store.add_logs("job-1", lines())
    assert [x.line for x in store.logs("job-1")] == ["kept"]
    # The store still works afterwards.
    store.add_logs("job-1", [("algo-1", "stdout", T0 + 2, "after")])
    assert [x.line for x in store.logs("job-1")] == ["kept", "after"]


def test_two_stores_on_one_folder_see_each_others_writes(tmp_path: Path) -> None:
    writer = Store(tmp_path / "home")
    reader = Store(tmp_path / "home")
    try:
        record = make_record("job-1")
        writer.create_training_job(record, {"TrainingJobName": "job-1"}, {})
        assert reader.has_training_job("job-1")
        assert reader.record("job-1") == record

        status.advance(record, "Downloading", T0 + 1)
        writer.save_record(record)
        assert reader.record("job-1")["SecondaryStatus"] == "Downloading"

        # stop, as ``smlocal stop`` in another process would ask for it
        reader.request_stop("job-1", T0 + 2)
        assert writer.stop_requested("job-1")

        writer.add_logs("job-1", [("algo-1", "stdout", T0, "hello")])
        writer.add_metrics("job-1", [("loss", 1.5, T0)])
        assert [x.line for x in reader.logs("job-1")] == ["hello"]
        assert reader.metric_series("job-1") == {"loss": [(T0, 1.5)]}

        with pytest.raises(JobExists):
            reader.create_training_job(copy.deepcopy(record), {}, {})
    finally:
        writer.close()
        reader.close()


def test_a_store_opened_while_another_process_creates_it_waits_for_it(tmp_path: Path) -> None:
    """Another process midway through creating the database (its first write transaction open,
    not yet in WAL mode): SQLite refuses the switch to WAL at once, without its busy wait; the
    store waits for the lock instead of failing (seen as "database is locked" in a job that
    started while ``smlocal logs`` polled its new home)."""
    home = tmp_path / "home"
    home.mkdir()
    other = sqlite3.connect(home / "smlocal.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN")
    other.execute("CREATE TABLE early(x)")
    timer = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    timer.start()
    started = time.monotonic()
    try:
        store = Store(home)
    finally:
        timer.join()
        other.close()
    assert time.monotonic() - started >= 0.25
    store.create_training_job(make_record("job-1"), {}, {})
    assert store.has_training_job("job-1")
    assert store.query("PRAGMA journal_mode") == [("wal",)]
    store.close()


def test_reopened_store_keeps_everything(tmp_path: Path) -> None:
    first = Store(tmp_path)
    first.create_training_job(make_record("job-1"), {"x": 1}, {"y": 2}, tuning_job="t")
    first.add_logs("job-1", [("algo-1", "stdout", T0, "l")])
    first.close()
    second = Store(tmp_path)
    try:
        assert second.request("job-1") == ({"x": 1}, {"y": 2})
        assert [r["TrainingJobName"] for r in second.list_training_jobs("t")] == ["job-1"]
        assert [x.line for x in second.logs("job-1")] == ["l"]
    finally:
        second.close()

