"""TrainingJobStatus, SecondaryStatus and SecondaryStatusTransitions, as AWS reports them.

A pure state machine over a record dict (the DescribeTrainingJob fields, times as epoch
seconds); the caller persists it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.contract.metrics import MetricScraper

IN_PROGRESS = "InProgress"
COMPLETED = "Completed"
FAILED = "Failed"
STOPPING = "Stopping"
STOPPED = "Stopped"
TERMINAL = frozenset({COMPLETED, FAILED, STOPPED})

MESSAGES = {
    "Starting": "Preparing the instances for training",
    "Downloading": "Downloading input data",
    "Training": "Training image download completed. Training in progress.",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Failed": "Training job failed",
    "Stopping": "Stopping the training job",
    "Stopped": "Training job stopped",
    "MaxRuntimeExceeded": "Training job exceeded MaxRuntimeInSeconds provided",
    "Interrupted": "Training job interrupted: the spot instances were reclaimed (rehearsed)",
    "Restarting": "Restarting the training job on new instances",
}

# Secondary status that ends a job -> the TrainingJobStatus it ends in.
_FINAL = {
    "Completed": COMPLETED,
    "Failed": FAILED,
    "Stopped": STOPPED,
    "MaxRuntimeExceeded": STOPPED,
}


def new_record(request: dict[str, Any], arn: str, now: float) -> dict[str, Any]:
    """A fresh record for a created job: InProgress/Starting."""
    record: dict[str, Any] = {
        "TrainingJobName": request["TrainingJobName"],
        "TrainingJobArn": arn,
        "TrainingJobStatus": IN_PROGRESS,
        "SecondaryStatus": "Starting",
        "CreationTime": now,
        "LastModifiedTime": now,
        "SecondaryStatusTransitions": [
            {"Status": "Starting", "StartTime": now, "StatusMessage": MESSAGES["Starting"]}
        ],
    }
    return record


def advance(record: dict[str, Any], secondary: str, now: float, message: str | None = None) -> None:
    """Move ``record`` to ``secondary``: close the open transition, open the new one, and set
    TrainingJobStatus (Stopping while stopping; the final status on a terminal step)."""
    if record["TrainingJobStatus"] in TERMINAL:
        raise ValueError(f"job already ended as {record['TrainingJobStatus']}")
    transitions: list[dict[str, Any]] = record["SecondaryStatusTransitions"]
    if transitions and "EndTime" not in transitions[-1]:
        transitions[-1]["EndTime"] = now
    step: dict[str, Any] = {
        "Status": secondary,
        "StartTime": now,
        "StatusMessage": message or MESSAGES.get(secondary, secondary),
    }
    record["SecondaryStatus"] = secondary
    record["LastModifiedTime"] = now
    if secondary == "Stopping":
        record["TrainingJobStatus"] = STOPPING
    final = _FINAL.get(secondary)
    if final is not None:
        step["EndTime"] = now
        record["TrainingJobStatus"] = final
        record["TrainingEndTime"] = now
        start = record.get("TrainingStartTime")
        if start is not None:
            seconds = max(0, int(round(now - start)))
            record["TrainingTimeInSeconds"] = seconds
            # no instance between a spot interruption and the restart: that time is not billed
            unbilled = sum(t["EndTime"] - t["StartTime"] for t in transitions
                           if t["Status"] == "Interrupted" and "EndTime" in t)
            record["BillableTimeInSeconds"] = max(0, int(round(now - start - unbilled)))
    if secondary == "Downloading" and "TrainingStartTime" not in record:
        record["TrainingStartTime"] = now
    transitions.append(step)


def training_start(record: dict[str, Any]) -> float | None:
    """When the job's (first) Training step began; None before it did."""
    for step in record.get("SecondaryStatusTransitions") or []:
        if step.get("Status") == "Training":
            return float(step["StartTime"])
    return None


def is_terminal(record: dict[str, Any]) -> bool:
    return record.get("TrainingJobStatus") in TERMINAL


def final_metric_data(
    scraper: MetricScraper, series: dict[str, list[tuple[float, float]]]
) -> list[dict[str, Any]]:
    """FinalMetricDataList: the last value of each defined metric, in definition order, from
    the stored series (so a resumed job counts the values seen before the resume too)."""
    out = []
    for definition in scraper.definitions:
        points = series.get(definition.name)
        if points:
            ts, value = points[-1]
            out.append({"MetricName": definition.name, "Value": value, "Timestamp": ts})
    return out


ECHOED_FIELDS = (
    "HyperParameters", "AlgorithmSpecification", "RoleArn", "InputDataConfig", "OutputDataConfig",
    "ResourceConfig", "StoppingCondition", "VpcConfig", "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining", "CheckpointConfig",
    "Environment", "RetryStrategy", "DebugHookConfig", "TensorBoardOutputConfig", "ProfilerConfig",
)


def echo_request(record: dict[str, Any], request: dict[str, Any]) -> None:
    """The request's fields that DescribeTrainingJob repeats, into ``record``."""
    for key in ECHOED_FIELDS:
        if key in request:
            record[key] = request[key]


def training_job_arn(name: str) -> str:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return f"arn:aws:sagemaker:{region}:000000000000:training-job/{name.lower()}"


def tuning_job_arn(name: str) -> str:
    return training_job_arn(name).replace(":training-job/", ":hyper-parameter-tuning-job/")
