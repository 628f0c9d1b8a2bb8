"""``smlocal diff A B`` of two tuning jobs, typically one run here and the same request run on
SageMaker: read through DescribeHyperParameterTuningJob and
ListTrainingJobsForHyperParameterTuningJob answers, so a local job and a cloud one are read
alike.

Compared: HyperParameterTuningJobStatus; the training jobs' status counters; the best
objective value, within the relative tolerance; and, for every configuration of tuned
hyperparameters that both jobs tried, its final objective value, within the tolerance (a
configuration tried by one job only is shown, not compared: a Random or Bayesian search picks
its own). Shown only: where each ran, the requests' differences, the consumed seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runner.api.job_diff import JobDiff, Row, close, number, request_rows, same, where

if TYPE_CHECKING:
    from runner.api.tuning_jobs import TuningJobs


def diff_stored_tuning_jobs(jobs: TuningJobs, a: str, b: str, tolerance: float) -> JobDiff:
    """Two tuning jobs of the store, read through the service's answers."""

    def both(read: Callable[[str], Any]) -> tuple[Any, Any]:
        return read(a), read(b)

    return diff_tuning_jobs(
        a, b, both(jobs.describe_hyper_parameter_tuning_job),
        both(lambda n: jobs.list_training_jobs_for_hyper_parameter_tuning_job(n)[
            "TrainingJobSummaries"]),  # (every page: no MaxResults)
        both(lambda n: jobs.tstore.request(n)[0]), both(jobs.tstore.record), tolerance)


def diff_tuning_jobs(a: str, b: str, described: tuple[dict[str, Any], dict[str, Any]],
                     summaries: tuple[list[dict[str, Any]], list[dict[str, Any]]],
                     requests: tuple[dict[str, Any], dict[str, Any]],
                     records: tuple[dict[str, Any], dict[str, Any]],
                     tolerance: float) -> JobDiff:
    da, db = described
    rows = [Row("where", where(records[0]), where(records[1]))]
    rows += request_rows(*requests, ignored="HyperParameterTuningJobName")
    rows.append(same("HyperParameterTuningJobStatus", da["HyperParameterTuningJobStatus"],
                      db["HyperParameterTuningJobStatus"]))
    rows.append(same("TrainingJobStatusCounters", _counters(da), _counters(db)))
    best_a, best_b = _best(da), _best(db)
    if best_a is not None or best_b is not None:
        rows.append(close("best objective", best_a, best_b, tolerance))
    by_a, by_b = _by_config(summaries[0]), _by_config(summaries[1])
    for config in sorted(set(by_a) | set(by_b)):
        va, vb = by_a.get(config), by_b.get(config)
        label = f"trial {config}"
        if config in by_a and config in by_b:
            rows.append(close(label, va, vb, tolerance))
        else:
            rows.append(Row(label, number(va) if config in by_a else "not tried",
                            number(vb) if config in by_b else "not tried"))
    ra, rb = (str((d.get("ConsumedResources") or {}).get("RuntimeInSeconds", "-"))
              for d in described)
    rows.append(Row("RuntimeInSeconds", ra, rb))
    return JobDiff(a, b, rows)


def _counters(described: dict[str, Any]) -> str:
    counters = described.get("TrainingJobStatusCounters") or {}
    return ", ".join(f"{k} {v}" for k, v in sorted(counters.items()) if v) or "none"


def _best(described: dict[str, Any]) -> float | None:
    metric = (described.get("BestTrainingJob") or {}).get(
        "FinalHyperParameterTuningJobObjectiveMetric") or {}
    value = metric.get("Value")
    return float(value) if isinstance(value, int | float) else None


def _by_config(summaries: list[dict[str, Any]]) -> dict[str, float | None]:
    """Each configuration's final objective (its last attempt's: the latest created; a
    retry's name sorts anywhere), keyed by its tuned values."""
    out: dict[str, float | None] = {}
    for summary in sorted(summaries, key=_created):
        tuned = summary.get("TunedHyperParameters") or {}
        key = " ".join(f"{k}={tuned[k]}" for k in sorted(tuned))
        value = (summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}).get("Value")
        out[key] = float(value) if isinstance(value, int | float) else None
    return out


def _created(summary: dict[str, Any]) -> float:
    created = summary.get("CreationTime")
    if isinstance(created, datetime):
        return created.timestamp()
    return float(created) if isinstance(created, int | float) else 0.0
