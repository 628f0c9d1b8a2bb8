"""``TuningJobCompletionCriteria``: when a tuning job ends before its budget, and the
``TuningJobCompletionDetails`` that DescribeHyperParameterTuningJob reports.

Every check reads the finished trials that have a finite objective, in creation order (the
order of ``history``); running trials and trials without an objective are skipped, so a
history that holds them too is fine. Nothing here keeps state or reads a clock: the same
history always gives the same answer, and a time is only ever one the caller passes in.

Conventions (AWS documents the words, not the arithmetic):

- ``TargetObjectiveMetricValue``: reached when the best objective is at least as good as the
  target (``<=`` when minimising, ``>=`` when maximising).
- Improvement: AWS counts a training job as "not improving" when it fails to improve the
  objective "by 1% or greater". A trial is a significant improvement when it beats the
  reference value by at least ``IMPROVEMENT_TOLERANCE`` (1%) of ``|reference|`` (any strict
  gain when the reference is 0). The reference is the first objective, and moves only on a
  significant improvement, so a run of small gains that add up to 1% does count as one.
- ``BestObjectiveNotImproving``: ``NumberOfTrainingJobsObjectiveNotImproving`` is the number
  of trials since the last significant improvement (the trial that set the reference is not
  counted); the job completes once it reaches ``MaxNumberOfTrainingJobsNotImproving``.
- ``ConvergenceDetected``: converged when none of the last ``W`` trials improved significantly,
  with ``W = max(10, ceil(20% of MaxNumberOfTrainingJobs))`` (10 when the budget is unknown),
  and at least ``2 * W`` trials have an objective (the first ones are exploration). The same
  1% tolerance as above: AWS describes convergence as "a lack of significant improvement (1%
  or less)". ``ConvergenceDetectedTime`` is reported whether or not ``CompleteOnConvergence``
  is Enabled; only Enabled ends the job.
- Several criteria met at once: the first of Target, BestObjectiveNotImproving,
  ConvergenceDetected is the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from runner.tuning.trials import Direction, Trial

__all__ = [
    "BEST_OBJECTIVE_NOT_IMPROVING",
    "CONVERGENCE_DETECTED",
    "CONVERGENCE_MIN_WINDOW",
    "CONVERGENCE_WINDOW_SHARE",
    "IMPROVEMENT_TOLERANCE",
    "TARGET_REACHED",
    "completion_details",
    "completion_reason",
    "convergence_window",
    "converged",
    "finished_objectives",
    "not_improving_count",
]

TARGET_REACHED = "TargetObjectiveMetricValue reached"
BEST_OBJECTIVE_NOT_IMPROVING = "BestObjectiveNotImproving"
CONVERGENCE_DETECTED = "ConvergenceDetected"

IMPROVEMENT_TOLERANCE = 0.01
CONVERGENCE_MIN_WINDOW = 10
CONVERGENCE_WINDOW_SHARE = 0.2


def finished_objectives(history: Sequence[Trial]) -> list[float]:
    """The finite objectives of the finished trials, in the order of ``history``."""
    return [
        t.objective
        for t in history
        if t.finished and t.objective is not None and math.isfinite(t.objective)
    ]


def not_improving_count(history: Sequence[Trial], direction: Direction) -> int:
    """Trials with an objective since the last significant (>= 1%) improvement of the best."""
    reference: float | None = None
    count = 0
    for value in finished_objectives(history):
        if reference is None or _significant(value, reference, direction):
            reference, count = value, 0
        else:
            count += 1
    return count


def convergence_window(max_jobs: int | None) -> int:
    """``max(10, ceil(20% of max_jobs))``; 10 when the budget is unknown."""
    if max_jobs is None:
        return CONVERGENCE_MIN_WINDOW
    # round() first: 0.2 * 55 is 11.000000000000002 in floating point.
    share = math.ceil(round(CONVERGENCE_WINDOW_SHARE * max_jobs, 9))
    return max(CONVERGENCE_MIN_WINDOW, share)


def converged(history: Sequence[Trial], direction: Direction, max_jobs: int | None = None) -> bool:
    """No significant improvement over the last ``W`` trials, and at least ``2 * W`` done."""
    window = convergence_window(max_jobs)
    done = len(finished_objectives(history))
    return done >= 2 * window and not_improving_count(history, direction) >= window


def completion_reason(
    criteria: Mapping[str, Any] | None,
    history: Sequence[Trial],
    direction: Direction,
    *,
    max_jobs: int | None = None,
) -> str | None:
    """Why the tuning job is complete under ``criteria`` (``TuningJobCompletionCriteria``), or
    None while it should go on. ``max_jobs`` is ``ResourceLimits.MaxNumberOfTrainingJobs``,
    which sizes the convergence window."""
    if not criteria:
        return None
    objectives = finished_objectives(history)
    target = _number(criteria.get("TargetObjectiveMetricValue"))
    if target is not None and objectives:
        best = min(objectives, key=direction.loss)
        if direction.loss(best) <= direction.loss(target):
            return TARGET_REACHED
    patience = _number(
        _member(criteria, "BestObjectiveNotImproving", "MaxNumberOfTrainingJobsNotImproving")
    )
    if patience is not None and objectives and not_improving_count(history, direction) >= patience:
        return BEST_OBJECTIVE_NOT_IMPROVING
    complete = _member(criteria, "ConvergenceDetected", "CompleteOnConvergence")
    if complete == "Enabled" and converged(history, direction, max_jobs):
        return CONVERGENCE_DETECTED
    return None


def completion_details(
    history: Sequence[Trial],
    direction: Direction,
    *,
    max_jobs: int | None = None,
    convergence_time: float | None = None,
) -> dict[str, Any]:
    """``TuningJobCompletionDetails``: ``NumberOfTrainingJobsObjectiveNotImproving`` always,
    ``ConvergenceDetectedTime`` when the history has converged and the caller gives the time
    (seconds since the epoch) at which it first saw it converge; the caller keeps that time in
    its store, so a resumed job reports the original one."""
    details: dict[str, Any] = {
        "NumberOfTrainingJobsObjectiveNotImproving": not_improving_count(history, direction)
    }
    if convergence_time is not None and converged(history, direction, max_jobs):
        details["ConvergenceDetectedTime"] = convergence_time
    return details


def _significant(value: float, reference: float, direction: Direction) -> bool:
    gain = direction.loss(reference) - direction.loss(value)
    # A hair of slack so that exactly 1% (0.99 after 1.0) counts despite binary rounding.
    return gain > 0 and gain >= IMPROVEMENT_TOLERANCE * abs(reference) * (1 - 1e-9)


def _member(criteria: Mapping[str, Any], outer: str, inner: str) -> Any:
    block = criteria.get(outer)
    return block.get(inner) if isinstance(block, Mapping) else None


def _number(value: object) -> float | None:
    """A finite int or float from the request; None for anything else (bools included)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None
