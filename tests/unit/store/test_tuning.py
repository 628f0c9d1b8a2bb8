"""Tests for runner.store.tuning: tuning jobs and their trials in the SQLite store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.store.jobs import JobNotFound, Store
from runner.store.tuning import TrialRow, TuningJobExists, TuningStore

T0 = 1_700_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "home")
    yield s
    s.close()


@pytest.fixture
def tstore(store: Store) -> TuningStore:
    return TuningStore(store)


def record(name: str = "tune-1", created: float = T0, status: str = "InProgress") -> dict[str, Any]:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobArn": (
            f"arn:aws:sagemaker:us-east-1:000000000000:hyper-parameter-tuning-job/{name}"),
        "HyperParameterTuningJobStatus": status,
        "CreationTime": created,
        "LastModifiedTime": created,
    }


REQUEST: dict[str, Any] = {
    "HyperParameterTuningJobName": "tune-1",
    "HyperParameterTuningJobConfig": {
        "Strategy": "Random",
        "RandomSeed": 7,
        "ParameterRanges": {"ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.001",
                                                           "MaxValue": "0.1"}]},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 1},
    },
    "TrainingJobDefinition": {"StaticHyperParameters": {"epochs": "2"},
                              "Environment": {"UNICODE": "naïve ✓"}},
}
LOCAL: dict[str, Any] = {"StopGracePeriodSeconds": 120.0, "BaseDir": "/work/specs"}


def test_create_exists_and_record(tstore: TuningStore) -> None:
    assert not tstore.exists("tune-1")
    tstore.create(record(), REQUEST, LOCAL)
    assert tstore.exists("tune-1")
    assert not tstore.exists("tune-2")
    assert not tstore.exists("TUNE-1")
    assert tstore.record("tune-1") == record()


def test_create_twice_raises(tstore: TuningStore) -> None:
    tstore.create(record(), REQUEST, LOCAL)
    with pytest.raises(TuningJobExists) as info:
        tstore.create(record(status="Completed"), {}, {})
    assert info.value.name == "tune-1"
    assert str(info.value) == "Hyperparameter tuning job tune-1 already exists"
    assert tstore.record("tune-1")["HyperParameterTuningJobStatus"] == "InProgress"
    assert tstore.request("tune-1") == (REQUEST, LOCAL)


def test_request_round_trip(tstore: TuningStore) -> None:
    tstore.create(record(), REQUEST, LOCAL)
    request, local = tstore.request("tune-1")
    assert request == REQUEST
    assert local == LOCAL
    assert request is not REQUEST
    assert request["TrainingJobDefinition"]["Environment"]["UNICODE"] == "naïve ✓"
    assert isinstance(request["HyperParameterTuningJobConfig"]["RandomSeed"], int)


def test_save_updates_record_and_status(tstore: TuningStore, store: Store) -> None:
    tstore.create(record(), REQUEST, LOCAL)
    updated = {**record(status="Completed"), "HyperParameterTuningEndTime": T0 + 60,
               "LastModifiedTime": T0 + 60}
    tstore.save(updated)
    assert tstore.record("tune-1") == updated
    assert (store.query("SELECT status FROM tuning_jobs WHERE name = ?", ("tune-1",))
            == [("Completed",)])
    assert tstore.request("tune-1") == (REQUEST, LOCAL)  # untouched


def test_missing_jobs_raise_job_not_found(tstore: TuningStore) -> None:
    with pytest.raises(JobNotFound):
        tstore.record("nope")
    with pytest.raises(JobNotFound):
        tstore.request("nope")
    with pytest.raises(JobNotFound):
        tstore.request_stop("nope", T0)
    with pytest.raises(JobNotFound):
        tstore.stop_requested("nope")


def test_list_jobs_in_creation_order(tstore: TuningStore) -> None:
    tstore.create(record("b", T0 + 10), REQUEST, LOCAL)
    tstore.create(record("a", T0 + 20), REQUEST, LOCAL)
    tstore.create(record("c", T0), REQUEST, LOCAL)
    assert [r["HyperParameterTuningJobName"] for r in tstore.list_jobs()] == ["c", "b", "a"]


def test_request_stop_is_idempotent_and_keeps_the_first_time(
    tstore: TuningStore, store: Store
) -> None:
    tstore.create(record(), REQUEST, LOCAL)
    tstore.create(record("tune-2"), REQUEST, LOCAL)
    assert not tstore.stop_requested("tune-1")
    tstore.request_stop("tune-1", T0 + 5)
    tstore.request_stop("tune-1", T0 + 9)
    assert tstore.stop_requested("tune-1")
    assert not tstore.stop_requested("tune-2")
    assert (store.query("SELECT stop_requested FROM tuning_jobs WHERE name = ?", ("tune-1",))
            == [(T0 + 5,)])
    # a stop request is not part of the record
    assert tstore.record("tune-1") == record()


def test_the_tables_live_beside_the_training_jobs(tmp_path: Path) -> None:
    first = Store(tmp_path / "home")
    TuningStore(first).create(record(), REQUEST, LOCAL)
    TuningStore(first).add_trial("tune-1", 1, "d", {"lr": 0.01}, "tune-1-001-aaaaaaaa")
    first.close()
    again = Store(tmp_path / "home")
    try:
        tstore = TuningStore(again)  # the schema is created only if missing
        assert tstore.record("tune-1") == record()
        assert [t.number for t in tstore.trials("tune-1")] == [1]
    finally:
        again.close()


# --- trials ---------------------------------------------------------------------------------


def test_add_trial_and_trials_in_number_order(tstore: TuningStore) -> None:
    tstore.create(record(), REQUEST, LOCAL)
    tstore.add_trial("tune-1", 2, "training-job-definition", {"lr": 0.02, "opt": "sgd", "n": 16},
                     "tune-1-002-bbbbbbbb")
    tstore.add_trial("tune-1", 10, "other", {"lr": 0.1}, "tune-1-010-cccccccc")
    tstore.add_trial("tune-1", 1, "training-job-definition", {"lr": 0.01, "opt": "adam", "n": 8},
                     "tune-1-001-aaaaaaaa")
    tstore.add_trial("tune-2", 1, "training-job-definition", {"lr": 0.5}, "tune-2-001-dddddddd")
    rows = tstore.trials("tune-1")
    assert rows == [
        TrialRow(1, "training-job-definition", {"lr": 0.01, "opt": "adam", "n": 8},
                 "tune-1-001-aaaaaaaa", ("tune-1-001-aaaaaaaa",)),
        TrialRow(2, "training-job-definition", {"lr": 0.02, "opt": "sgd", "n": 16},
                 "tune-1-002-bbbbbbbb", ("tune-1-002-bbbbbbbb",)),
        TrialRow(10, "other", {"lr": 0.1}, "tune-1-010-cccccccc", ("tune-1-010-cccccccc",)),
    ]
    assert isinstance(rows[0].config["n"], int) and isinstance(rows[0].config["lr"], float)
    assert [r.number for r in tstore.trials("tune-2")] == [1]
    assert tstore.trials("none") == []


def test_add_trial_twice_is_refused(tstore: TuningStore) -> None:
    tstore.add_trial("tune-1", 1, "d", {}, "tune-1-001-aaaaaaaa")
    with pytest.raises(sqlite3.IntegrityError):
        tstore.add_trial("tune-1", 1, "d", {}, "tune-1-001-eeeeeeee")
    assert tstore.trials("tune-1")[0].job_name == "tune-1-001-aaaaaaaa"


def test_retry_trial_appends_attempts(tstore: TuningStore) -> None:
    tstore.add_trial("tune-1", 1, "d", {"lr": 0.01}, "tune-1-001-aaaaaaaa")
    tstore.add_trial("tune-1", 2, "d", {"lr": 0.02}, "tune-1-002-bbbbbbbb")
    tstore.retry_trial("tune-1", 1, "tune-1-001-11111111")
    tstore.retry_trial("tune-1", 1, "tune-1-001-22222222")
    first, second = tstore.trials("tune-1")
    assert first == TrialRow(
        1, "d", {"lr": 0.01}, "tune-1-001-22222222",
        ("tune-1-001-aaaaaaaa", "tune-1-001-11111111", "tune-1-001-22222222"),
    )
    assert second == TrialRow(2, "d", {"lr": 0.02}, "tune-1-002-bbbbbbbb", ("tune-1-002-bbbbbbbb",))


def test_retry_of_a_missing_trial(tstore: TuningStore) -> None:
    tstore.add_trial("tune-1", 1, "d", {}, "tune-1-001-aaaaaaaa")
    with pytest.raises(JobNotFound):
        tstore.retry_trial("tune-1", 2, "tune-1-002-11111111")
    with pytest.raises(JobNotFound):
        tstore.retry_trial("tune-9", 1, "tune-9-001-11111111")
    assert tstore.trials("tune-1")[0].attempts == ("tune-1-001-aaaaaaaa",)
