"""Tests for runner.shapes.status: TrainingJobStatus, SecondaryStatus and the transitions."""

from __future__ import annotations

from typing import Any

import pytest

from runner.core.clock import FakeClock
from runner.shapes import status

ARN = "arn:aws:sagemaker:us-east-1:000000000000:training-job/job-1"
T0 = 1_700_000_000.0


def fresh(clock: FakeClock) -> dict[str, Any]:
    return status.new_record({"TrainingJobName": "job-1", "RoleArn": "ignored"}, ARN, clock.now())


def steps(record: dict[str, Any]) -> list[tuple[str, float, float | None]]:
    return [
        (t["Status"], t["StartTime"], t.get("EndTime"))
        for t in record["SecondaryStatusTransitions"]
    ]


def test_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock()
    assert clock.now() == T0
    assert clock.monotonic() == 0.0
    clock.advance(2.5)
    assert clock.now() == T0 + 2.5
    assert clock.monotonic() == 2.5
    assert FakeClock(start=10.0).now() == 10.0


def test_new_record() -> None:
    clock = FakeClock()
    record = fresh(clock)
    assert record == {
        "TrainingJobName": "job-1",
        "TrainingJobArn": ARN,
        "TrainingJobStatus": "InProgress",
        "SecondaryStatus": "Starting",
        "CreationTime": T0,
        "LastModifiedTime": T0,
        "SecondaryStatusTransitions": [
            {
                "Status": "Starting",
                "StartTime": T0,
                "StatusMessage": "Preparing the instances for training",
            }
        ],
    }
    assert not status.is_terminal(record)


def test_completed_run() -> None:
    clock = FakeClock()
    record = fresh(clock)
    for secondary in ("Downloading", "Training", "Uploading"):
        clock.advance(10)
        status.advance(record, secondary, clock.now())
        assert record["TrainingJobStatus"] == "InProgress"
        assert record["SecondaryStatus"] == secondary
        assert record["LastModifiedTime"] == clock.now()
    clock.advance(10)
    status.advance(record, "Completed", clock.now())

    assert record["TrainingJobStatus"] == "Completed"
    assert record["SecondaryStatus"] == "Completed"
    assert record["TrainingStartTime"] == T0 + 10  # when Downloading began
    assert record["TrainingEndTime"] == T0 + 40
    assert record["LastModifiedTime"] == T0 + 40
    assert record["TrainingTimeInSeconds"] == 30
    assert record["BillableTimeInSeconds"] == 30
    assert steps(record) == [
        ("Starting", T0, T0 + 10),
        ("Downloading", T0 + 10, T0 + 20),
        ("Training", T0 + 20, T0 + 30),
        ("Uploading", T0 + 30, T0 + 40),
        ("Completed", T0 + 40, T0 + 40),
    ]
    assert [t["StatusMessage"] for t in record["SecondaryStatusTransitions"]] == [
        "Preparing the instances for training",
        "Downloading input data",
        "Training image download completed. Training in progress.",
        "Uploading generated training model",
        "Training job completed",
    ]
    assert status.is_terminal(record)


def test_training_start_time_is_set_once() -> None:
    clock = FakeClock()
    record = fresh(clock)
    clock.advance(1)
    status.advance(record, "Downloading", clock.now())
    clock.advance(1)
    status.advance(record, "Downloading", clock.now())
    assert record["TrainingStartTime"] == T0 + 1


def test_failed_run_with_custom_message() -> None:
    clock = FakeClock()
    record = fresh(clock)
    clock.advance(3)
    status.advance(record, "Downloading", clock.now())
    clock.advance(4)
    status.advance(record, "Training", clock.now())
    clock.advance(2.6)
    status.advance(record, "Failed", clock.now(), message="AlgorithmError: exit 1")
    assert record["TrainingJobStatus"] == "Failed"
    assert record["SecondaryStatus"] == "Failed"
    assert record["TrainingTimeInSeconds"] == 7  # round(6.6)
    last = record["SecondaryStatusTransitions"][-1]
    assert last == {
        "Status": "Failed",
        "StartTime": T0 + 9.6,
        "EndTime": T0 + 9.6,
        "StatusMessage": "AlgorithmError: exit 1",
    }


def test_failure_before_downloading_has_no_training_time() -> None:
    clock = FakeClock()
    record = fresh(clock)
    clock.advance(1)
    status.advance(record, "Failed", clock.now())
    assert record["TrainingJobStatus"] == "Failed"
    assert record["TrainingEndTime"] == T0 + 1
    assert "TrainingStartTime" not in record
    assert "TrainingTimeInSeconds" not in record
    assert "BillableTimeInSeconds" not in record


def test_requested_stop_goes_stopping_then_stopped() -> None:
    clock = FakeClock()
    record = fresh(clock)
    status.advance(record, "Downloading", clock.now())
    clock.advance(5)
    status.advance(record, "Training", clock.now())
    clock.advance(5)
    status.advance(record, "Stopping", clock.now())
    assert record["TrainingJobStatus"] == "Stopping"
    assert record["SecondaryStatus"] == "Stopping"
    assert not status.is_terminal(record)
    clock.advance(5)
    status.advance(record, "Stopped", clock.now())
    assert record["TrainingJobStatus"] == "Stopped"
    assert record["SecondaryStatus"] == "Stopped"
    assert record["TrainingTimeInSeconds"] == 15
    assert [s for s, _, _ in steps(record)] == [
        "Starting", "Downloading", "Training", "Stopping", "Stopped",
    ]
    assert record["SecondaryStatusTransitions"][3]["StatusMessage"] == "Stopping the training job"
    assert record["SecondaryStatusTransitions"][4]["StatusMessage"] == "Training job stopped"


def test_max_runtime_exceeded_ends_stopped() -> None:
    clock = FakeClock()
    record = fresh(clock)
    status.advance(record, "Downloading", clock.now())
    clock.advance(60)
    status.advance(record, "MaxRuntimeExceeded", clock.now())
    assert record["TrainingJobStatus"] == "Stopped"
    assert record["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert record["SecondaryStatusTransitions"][-1]["StatusMessage"] == (
        "Training job exceeded MaxRuntimeInSeconds provided"
    )
    assert record["TrainingTimeInSeconds"] == 60


def test_unknown_secondary_uses_its_name_as_message() -> None:
    clock = FakeClock()
    record = fresh(clock)
    status.advance(record, "Updating", clock.now())
    assert record["SecondaryStatusTransitions"][-1]["StatusMessage"] == "Updating"
    assert record["TrainingJobStatus"] == "InProgress"


def test_the_time_between_an_interruption_and_the_restart_is_not_billed() -> None:
    clock = FakeClock()
    record = fresh(clock)
    for secondary, seconds in (("Downloading", 5), ("Training", 100), ("Interrupted", 40),
                               ("Restarting", 10), ("Training", 50), ("Uploading", 5)):
        status.advance(record, secondary, clock.now())
        clock.advance(seconds)
    status.advance(record, "Completed", clock.now())
    assert (record["TrainingTimeInSeconds"], record["BillableTimeInSeconds"]) == (210, 170)


@pytest.mark.parametrize("final", ["Completed", "Failed", "Stopped", "MaxRuntimeExceeded"])
def test_no_step_after_the_end(final: str) -> None:
    clock = FakeClock()
    record = fresh(clock)
    status.advance(record, final, clock.now())
    before = [dict(t) for t in record["SecondaryStatusTransitions"]]
    with pytest.raises(ValueError, match="already ended"):
        status.advance(record, "Training", clock.now() + 1)
    assert record["SecondaryStatusTransitions"] == before


def test_is_terminal() -> None:
    assert status.is_terminal({"TrainingJobStatus": "Completed"})
    assert status.is_terminal({"TrainingJobStatus": "Failed"})
    assert status.is_terminal({"TrainingJobStatus": "Stopped"})
    assert not status.is_terminal({"TrainingJobStatus": "Stopping"})
    assert not status.is_terminal({"TrainingJobStatus": "InProgress"})
    assert not status.is_terminal({})
