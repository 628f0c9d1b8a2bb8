"""The service as the server starts it: carrying on with the jobs no process runs (on the fake
engine), and leaving alone those another process runs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from runner.api.service import Service
from runner.core.specs import LocalOptions, Spec
from runner.engines.fake import FakeBackend
from runner.store import lease
from tests.unit.interfaces.server.conftest import IMAGE, algorithm
from tests.unit.interfaces.server.test_app import training_request


def service(tmp_path: Path) -> Service:
    return Service(tmp_path / "home",
                   engine=lambda home: FakeBackend(home / "engine", {IMAGE: algorithm}))


def wait_ended(check: Any, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        record: dict[str, Any] = check()
        status = record.get("TrainingJobStatus") or record.get("HyperParameterTuningJobStatus")
        if status in ("Completed", "Failed", "Stopped"):
            return record
        assert time.monotonic() < deadline, record
        time.sleep(0.05)


def recorded_not_run(svc: Service, tmp_path: Path, name: str) -> None:
    """A job recorded InProgress whose process died before its containers were made."""
    spec = Spec(training_request(tmp_path, name), LocalOptions(), tmp_path)
    svc.training_jobs.create_training_job(spec).create()


def test_jobs_no_process_runs_are_carried_on(tmp_path: Path) -> None:
    svc = service(tmp_path)
    recorded_not_run(svc, tmp_path, "orphan")
    definition = training_request(tmp_path, "unused")
    for key in ("TrainingJobName", "HyperParameters"):
        definition.pop(key)
    tuning = {
        "HyperParameterTuningJobName": "orphan-tuning",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
            "ParameterRanges": {"ContinuousParameterRanges": [
                {"Name": "x", "MinValue": "0", "MaxValue": "6"}]},
        },
        "TrainingJobDefinition": definition,
    }
    tuner = svc.tuning_jobs.create_hyper_parameter_tuning_job(
        Spec(tuning, LocalOptions(), tmp_path),
                                                              lambda kind, data: None)
    tuner.create()  # recorded, never run
    carried = svc.carry_on(lambda name: lambda kind, data: None)
    assert sorted(carried) == ["orphan", "orphan-tuning"]
    job = wait_ended(lambda: svc.training_jobs.describe_training_job(TrainingJobName="orphan"))
    assert job["TrainingJobStatus"] == "Completed"
    tuned = wait_ended(lambda: svc.tuning_jobs.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="orphan-tuning"))
    assert tuned["HyperParameterTuningJobStatus"] == "Completed"
    assert tuned["TrainingJobStatusCounters"]["Completed"] == 2
    assert svc.carry_on(lambda name: lambda kind, data: None) == []  # nothing left to carry on


def test_a_job_another_process_runs_is_left_alone(tmp_path: Path) -> None:
    svc = service(tmp_path)
    recorded_not_run(svc, tmp_path, "theirs")
    held = lease.try_acquire(svc.home, lease.TRAINING, "theirs")  # (as its runner holds it)
    assert held is not None
    try:
        assert svc.carry_on(lambda name: lambda kind, data: None) == []
        assert svc.training_jobs.describe_training_job(TrainingJobName="theirs")[
            "TrainingJobStatus"] == (
            "InProgress")
    finally:
        held.release()


def test_as_a_server_a_stop_that_finishes_a_job_answers_at_once(tmp_path: Path) -> None:
    svc = service(tmp_path)
    svc.as_server()
    recorded_not_run(svc, tmp_path, "orphan")  # its runner is gone: the stop finishes it
    jobs = svc.training_jobs
    original = jobs._resume

    def slow(*args: Any) -> dict[str, Any]:
        time.sleep(1.5)  # as finishing a job takes (up to its stop grace)
        return original(*args)

    jobs._resume = slow  # type: ignore[method-assign]
    started = time.monotonic()
    assert jobs.stop_training_job(TrainingJobName="orphan") is None
    assert time.monotonic() - started < 1.0
    record = wait_ended(lambda: jobs.describe_training_job(TrainingJobName="orphan"))
    assert record["TrainingJobStatus"] == "Stopped"
