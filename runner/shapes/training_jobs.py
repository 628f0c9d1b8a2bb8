"""Records as the AWS API returns them: DescribeTrainingJob and ListTrainingJobs shapes.

The store keeps times as epoch seconds; the API returns timestamps. Fields that are not
members of the operation's output shape (smlocal's own bookkeeping) are left out, so the
output diffs cleanly against the cloud's.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

_TIME_KEYS = frozenset({
    "CreationTime", "TrainingStartTime", "TrainingEndTime", "LastModifiedTime", "StartTime",
    "EndTime", "Timestamp", "HyperParameterTuningStartTime", "HyperParameterTuningEndTime",
})


def to_timestamps(node: Any) -> Any:
    """Epoch-second floats under time keys become timezone-aware datetimes, recursively."""
    if isinstance(node, dict):
        return {
            k: (datetime.fromtimestamp(v, UTC) if k in _TIME_KEYS and isinstance(v, int | float)
                else to_timestamps(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [to_timestamps(v) for v in node]
    return node


def epoch_seconds(node: Any) -> Any:
    """``node`` with every datetime in it as epoch seconds, as the store keeps times (the
    inverse of ``to_timestamps``, for answers boto3 gives)."""
    if isinstance(node, datetime):
        return node.timestamp()
    if isinstance(node, dict):
        return {k: epoch_seconds(v) for k, v in node.items()}
    if isinstance(node, list):
        return [epoch_seconds(v) for v in node]
    return node


def output_members(operation: str) -> frozenset[str]:
    from runner.shapes import model as schema  # (botocore: ~0.2 s a process may not need)

    shape = schema.load_service_model().operation_model(operation).output_shape
    return frozenset(shape.members) if shape is not None else frozenset()


PLACE_KEY = "RanOn"  # smlocal's bookkeeping in a cloud job's record (no member of the API's)


def cloud_place(record: dict[str, Any]) -> dict[str, str] | None:
    """Where a stored job runs when it runs on SageMaker (``Backend``, ``Region``,
    ``EndpointUrl``); None for a local job."""
    place = record.get(PLACE_KEY)
    return place if isinstance(place, dict) else None


def input_members(operation: str) -> frozenset[str]:
    from runner.shapes import model as schema

    shape = schema.load_service_model().operation_model(operation).input_shape
    return frozenset(shape.members) if shape is not None else frozenset()


def describe_training_job(record: dict[str, Any]) -> dict[str, Any]:
    members = output_members("DescribeTrainingJob")
    out = {k: v for k, v in record.items() if k in members}
    if isinstance(out.get("OutputDataConfig"), dict):
        # the service always returns it, empty when unset (the SDK's Estimator.attach reads it)
        out["OutputDataConfig"] = {"KmsKeyId": "", **out["OutputDataConfig"]}
    return cast(dict[str, Any], to_timestamps(out))


def training_job_summary(record: dict[str, Any]) -> dict[str, Any]:
    """An entry of ListTrainingJobs' TrainingJobSummaries."""
    keys = ("TrainingJobName", "TrainingJobArn", "CreationTime", "TrainingEndTime",
            "LastModifiedTime", "TrainingJobStatus", "SecondaryStatus")
    return cast(dict[str, Any], to_timestamps({k: record[k] for k in keys if k in record}))


def to_json(data: Any) -> str:
    """JSON as the AWS CLI prints it: ISO 8601 timestamps with their offset."""
    return json.dumps(data, indent=4, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
