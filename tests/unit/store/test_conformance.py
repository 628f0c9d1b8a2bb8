"""The store's rules (runner/store/base.py), checked against its implementations."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.store.base import JobEnded
from runner.store.jobs import JobExists, JobNotFound, Store
from runner.store.tuning import TuningJobExists, TuningStore


@pytest.fixture(params=["sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    out = Store(tmp_path / "home")
    yield out
    out.close()


def record(name: str, status: str = "InProgress", **extra: Any) -> dict[str, Any]:
    return {"TrainingJobName": name, "TrainingJobStatus": status, "CreationTime": 1.0,
            "SecondaryStatus": "Starting", **extra}


def tuning_record(name: str, status: str = "InProgress") -> dict[str, Any]:
    return {"HyperParameterTuningJobName": name, "HyperParameterTuningJobStatus": status,
            "CreationTime": 1.0}


def test_records_come_back_as_snapshots(store: Store) -> None:
    rec = record("a", HyperParameters={"x": "1"})
    store.create_training_job(rec, {"TrainingJobName": "a"}, {})
    rec["HyperParameters"]["x"] = "changed after create"
    first = store.record("a")
    assert first["HyperParameters"] == {"x": "1"}
    first["TrainingJobStatus"] = "changed by a reader"
    first["HyperParameters"]["x"] = "changed by a reader"
    assert store.record("a") == record("a", HyperParameters={"x": "1"})
    store.save_record(record("a", SecondaryStatus="Training"))
    assert first["SecondaryStatus"] == "Starting"  # a later write never changes a copy
    request, _ = store.request("a")
    request["TrainingJobName"] = "b"
    assert store.request("a")[0] == {"TrainingJobName": "a"}


def test_a_name_is_created_once(store: Store) -> None:
    store.create_training_job(record("a"), {}, {})
    with pytest.raises(JobExists):
        store.create_training_job(record("a"), {}, {})
    tstore = TuningStore(store)
    tstore.create(tuning_record("t"), {}, {})
    with pytest.raises(TuningJobExists):
        tstore.create(tuning_record("t"), {}, {})


def test_unknown_names_are_not_found(store: Store) -> None:
    for call in (lambda: store.record("nope"), lambda: store.request_stop("nope", 1.0),
                 lambda: TuningStore(store).record("nope")):
        with pytest.raises(JobNotFound):
            call()


@pytest.mark.parametrize("final", ["Completed", "Failed", "Stopped"])
def test_an_ended_job_never_changes(store: Store, final: str) -> None:
    store.create_training_job(record("a"), {}, {})
    store.save_record(record("a", final))
    with pytest.raises(JobEnded):
        store.save_record(record("a", "InProgress"))
    assert store.record("a")["TrainingJobStatus"] == final
    tstore = TuningStore(store)
    tstore.create(tuning_record("t"), {}, {})
    tstore.save(tuning_record("t", final))
    with pytest.raises(JobEnded):
        tstore.save(tuning_record("t", "InProgress"))
    assert tstore.record("t")["HyperParameterTuningJobStatus"] == final


def test_many_threads_write_at_once_and_lose_nothing(store: Store) -> None:
    for i in range(8):
        store.create_training_job(record(f"job-{i}"), {}, {})
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for n in range(50):
                store.add_metrics(f"job-{i}", [("loss", float(n), float(n))])
                store.add_logs(f"job-{i}", [("algo-1", "stdout", float(n), f"line {n}")])
                store.save_record(record(f"job-{i}", SecondaryStatus=f"step {n}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for i in range(8):
        assert ([v for _, v in store.metric_series(f"job-{i}")["loss"]]
                == [float(n) for n in range(50)])
        assert ([line.line for line in store.iter_logs(f"job-{i}")]
                == [f"line {n}" for n in range(50)])
        assert store.record(f"job-{i}")["SecondaryStatus"] == "step 49"


def test_another_process_reads_what_one_committed(store: Store) -> None:
    store.create_training_job(record("a"), {}, {})
    store.request_stop("a", 5.0)
    other = Store(store.home)
    try:
        assert other.stop_requested("a") and other.record("a") == record("a")
    finally:
        other.close()


def test_trial_rows_are_written_before_their_jobs_and_kept_in_order(store: Store) -> None:
    tstore = TuningStore(store)
    tstore.create(tuning_record("t"), {}, {})
    for number in (1, 2, 3):
        tstore.add_trial("t", number, "d", {"x": number}, f"t-{number}")
    tstore.retry_trial("t", 2, "t-2-retry")
    rows = tstore.trials("t")
    assert [r.number for r in rows] == [1, 2, 3]
    assert rows[1].job_name == "t-2-retry" and rows[1].attempts == ("t-2", "t-2-retry")
    rows[0].config["x"] = "changed"
    assert tstore.trials("t")[0].config == {"x": 1}


def test_a_full_disk_is_store_full_and_nothing_half_written(store: Store) -> None:
    from runner.store.base import StoreFull

    store.create_training_job(record("job-1"), {}, {})
    store.execute("PRAGMA max_page_count = 30")  # SQLite's own "disk full", a few pages on
    batch = [("algo-1", "stdout", 1000.0 + i, "x" * 200) for i in range(2000)]
    with pytest.raises(StoreFull) as full:
        store.add_logs("job-1", batch)
    assert full.value.home == store.home and "the store's disk is full" in str(full.value)
    assert store.log_count("job-1") == 0  # the batch rolled back whole
    assert store.record("job-1")["TrainingJobName"] == "job-1"  # reads go on
