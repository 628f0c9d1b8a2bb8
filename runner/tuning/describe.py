"""Tuning jobs as the AWS API returns them: DescribeHyperParameterTuningJob and
ListTrainingJobsForHyperParameterTuningJob, computed from the stored records (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runner.shapes.training_jobs import output_members, to_timestamps
from runner.tuning.completion import not_improving_count
from runner.tuning.trial_jobs import OBJECTIVE_HYPERPARAMETER
from runner.tuning.trials import Direction, Trial, TrialStatus

RETRYABLE_PREFIX = "InternalServerError"


def is_retryable(record: dict[str, Any]) -> bool:
    """A failure of the infrastructure, not of the algorithm (RetryStrategy retries these)."""
    return (record["TrainingJobStatus"] == "Failed"
            and str(record.get("FailureReason", "")).startswith(RETRYABLE_PREFIX))


@dataclass(frozen=True)
class TrialView:
    """One training job of a tuning job, with what describe needs around it."""

    definition: str
    tuned: dict[str, str]
    record: dict[str, Any]
    objective_metric: str
    objective_type: str
    current: bool = True  # False for an attempt that a retry replaced


def objective_value(record: dict[str, Any], metric: str) -> float | None:
    for entry in record.get("FinalMetricDataList", []):
        if entry["MetricName"] == metric:
            return float(entry["Value"])
    return None


def objective_status(view: TrialView) -> str:
    status = view.record["TrainingJobStatus"]
    if status in ("InProgress", "Stopping"):
        return "Pending"
    if (status in ("Completed", "Stopped")
            and objective_value(view.record, view.objective_metric) is not None):
        return "Succeeded"
    return "Failed"


def summary(view: TrialView, tuning_job: str) -> dict[str, Any]:
    """A HyperParameterTrainingJobSummary."""
    r = view.record
    out: dict[str, Any] = {
        "TrainingJobDefinitionName": view.definition,
        "TrainingJobName": r["TrainingJobName"],
        "TrainingJobArn": r["TrainingJobArn"],
        "TuningJobName": tuning_job,
        "CreationTime": r["CreationTime"],
        "TrainingJobStatus": r["TrainingJobStatus"],
        "TunedHyperParameters": dict(view.tuned),
        "ObjectiveStatus": objective_status(view),
    }
    for key in ("TrainingStartTime", "TrainingEndTime", "FailureReason"):
        if key in r:
            out[key] = r[key]
    value = objective_value(r, view.objective_metric)
    if value is not None and r["TrainingJobStatus"] != "Failed":
        out["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "Type": view.objective_type, "MetricName": view.objective_metric, "Value": value,
        }
    return out


def status_counters(views: Sequence[TrialView]) -> dict[str, int]:
    counts = {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0,
              "Stopped": 0}
    for view in views:
        status = view.record["TrainingJobStatus"]
        if status == "Failed":
            counts["RetryableError" if is_retryable(view.record) else "NonRetryableError"] += 1
        elif status in ("InProgress", "Stopping"):
            counts["InProgress"] += 1
        else:
            counts[status] += 1
    return counts


def objective_counters(views: Sequence[TrialView]) -> dict[str, int]:
    counts = {"Succeeded": 0, "Pending": 0, "Failed": 0}
    for view in views:
        counts[objective_status(view)] += 1
    return counts


def best(summaries: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The summary with the best final objective (each summary's own objective Type)."""
    found: dict[str, Any] | None = None
    for s in summaries:
        metric = s.get("FinalHyperParameterTuningJobObjectiveMetric")
        if metric is None or s["ObjectiveStatus"] != "Succeeded":
            continue
        direction = Direction(metric["Type"])
        if found is None or direction.better(
                metric["Value"], found["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]):
            found = s
    return found


def describe_tuning_job(
    record: dict[str, Any], views: Sequence[TrialView], now: float
) -> dict[str, Any]:
    members = output_members("DescribeHyperParameterTuningJob")
    out = {k: v for k, v in record.items() if k in members}
    _name_objectives(out)
    name = record["HyperParameterTuningJobName"]
    out["TrainingJobStatusCounters"] = status_counters(views)
    current = [v for v in views if v.current]
    out["ObjectiveStatusCounters"] = objective_counters(current)
    winner = best([summary(v, name) for v in current])
    if winner is not None:
        out["BestTrainingJob"] = winner
    details: dict[str, Any] = {"NumberOfTrainingJobsObjectiveNotImproving": not_improving(current)}
    if record.get("ConvergenceDetectedTime"):
        # epoch seconds in the record; to_timestamps does not know this key
        details["ConvergenceDetectedTime"] = datetime.fromtimestamp(
            record["ConvergenceDetectedTime"], UTC)
    out["TuningJobCompletionDetails"] = details
    end = record.get("HyperParameterTuningEndTime", now)
    out["ConsumedResources"] = {"RuntimeInSeconds": max(0,
                                                        int(round(end - record["CreationTime"])))}
    return dict(to_timestamps(out))


def _name_objectives(out: dict[str, Any]) -> None:
    """As the service does, each training job definition's StaticHyperParameters name its
    objective metric (``_tuning_objective_metric``; the SDK's HyperparameterTuner.attach
    reads it), and its resources are described as a ResourceConfig too."""
    config = out.get("HyperParameterTuningJobConfig") or {}
    shared = (config.get("HyperParameterTuningJobObjective") or {}).get("MetricName")
    if isinstance(out.get("TrainingJobDefinition"), dict):
        out["TrainingJobDefinition"] = _with_objective(out["TrainingJobDefinition"], shared)
    if isinstance(out.get("TrainingJobDefinitions"), list):
        out["TrainingJobDefinitions"] = [
            _with_objective(d, (d.get("TuningObjective") or {}).get("MetricName") or shared)
            if isinstance(d, dict) else d
            for d in out["TrainingJobDefinitions"]
        ]


def _with_objective(definition: dict[str, Any], metric: Any) -> dict[str, Any]:
    """The definition as the service describes it: its objective's name in its static
    hyperparameters, and a ResourceConfig beside a HyperParameterTuningResourceConfig (the
    SDK's HyperparameterTuner.attach reads both; with several InstanceConfigs, the first)."""
    out = dict(definition)
    if isinstance(metric, str):
        static = dict(definition.get("StaticHyperParameters") or {})
        static.setdefault(OBJECTIVE_HYPERPARAMETER, metric)
        out["StaticHyperParameters"] = static
    tuning_rc = definition.get("HyperParameterTuningResourceConfig")
    if isinstance(tuning_rc, dict) and "ResourceConfig" not in definition:
        configs = tuning_rc.get("InstanceConfigs")
        first = configs[0] if isinstance(configs, list) and configs else tuning_rc
        if isinstance(first, dict) and first.get("InstanceType"):
            rc = {k: first[k] for k in ("InstanceType", "InstanceCount", "VolumeSizeInGB")
                  if k in first}
            if tuning_rc.get("VolumeKmsKeyId"):
                rc["VolumeKmsKeyId"] = tuning_rc["VolumeKmsKeyId"]
            out["ResourceConfig"] = rc
    return out


def not_improving(views: Sequence[TrialView]) -> int:
    """Trials with an objective since the last significant (1%) improvement of the best, in
    the order given (trial_views': trial number, as the tuning loop's history), counted as
    ``completion.not_improving_count`` counts them for BestObjectiveNotImproving."""
    history = [
        Trial(i, {}, TrialStatus.COMPLETED, objective_value(v.record, v.objective_metric))
        for i, v in enumerate(views)
        if objective_status(v) == "Succeeded"
    ]
    if not history:
        return 0
    return not_improving_count(history, Direction(views[0].objective_type))


_SORT_KEYS = {
    "Name": lambda s: s["TrainingJobName"],
    "CreationTime": lambda s: s["CreationTime"],
    "Status": lambda s: s["TrainingJobStatus"],
}


def list_trials(
    views: Sequence[TrialView], tuning_job: str, *, status_equals: str | None = None,
    sort_by: str = "Name", sort_order: str = "Ascending",
) -> dict[str, Any]:
    """ListTrainingJobsForHyperParameterTuningJob's response. Sorted by
    FinalObjectiveMetricValue, jobs without an objective come last, as in AWS."""
    summaries = [summary(v, tuning_job) for v in views]
    if status_equals:
        summaries = [s for s in summaries if s["TrainingJobStatus"] == status_equals]
    reverse = sort_order == "Descending"
    if sort_by == "FinalObjectiveMetricValue":
        with_value = [s for s in summaries if "FinalHyperParameterTuningJobObjectiveMetric" in s]
        without = [s for s in summaries if "FinalHyperParameterTuningJobObjectiveMetric" not in s]
        with_value.sort(key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
                        reverse=reverse)
        summaries = with_value + without
    else:
        summaries.sort(key=_SORT_KEYS[sort_by], reverse=reverse)
    return dict(to_timestamps({"TrainingJobSummaries": summaries}))
