"""A stored tuning job's trials, read back: for describe and list, and as warm-start history."""

from __future__ import annotations

from typing import Any

from runner.store.jobs import JobNotFound, Store
from runner.store.tuning import TuningStore
from runner.tuning import trial_jobs
from runner.tuning.describe import TrialView, objective_value
from runner.tuning.search_space import SearchSpace, parse_ranges
from runner.tuning.trials import Trial, TrialStatus


def spaces(request: dict[str, Any]) -> dict[str, SearchSpace]:
    out = {}
    for name, path, definition in trial_jobs.definitions(request):
        space, _ = parse_ranges(trial_jobs.parameter_ranges(request, definition), path)
        if space is not None:
            out[name] = space
    return out


def trial_views(store: Store, tstore: TuningStore, name: str) -> list[TrialView]:
    """Every training job of the tuning job (retried attempts too), oldest first."""
    request, _ = tstore.request(name)
    by_definition = {d: definition for d, _, definition in trial_jobs.definitions(request)}
    space_of = spaces(request)
    views = []
    for row in tstore.trials(name):
        definition = by_definition[row.definition]
        objective = trial_jobs.objective(request, definition)
        space = space_of[row.definition]
        for job in row.attempts:
            try:
                record = store.record(job)
            except JobNotFound:
                continue  # suggested, not created yet
            views.append(TrialView(
                definition=row.definition, tuned=space.format(row.config), record=record,
                objective_metric=objective["MetricName"],
                objective_type=objective.get("Type", "Minimize"), current=job == row.job_name,
            ))
    return views


def warm_start_trials(store: Store, tstore: TuningStore, warm_start: dict[str, Any] | None,
                      space: SearchSpace) -> list[Trial]:
    """The parents' finished trials whose tuned values lie in ``space``, as history for this
    job's strategy (numbered below zero, so they never count as this job's trials).
    IdenticalDataAndAlgorithm and TransferLearning both seed the model this way; with
    TransferLearning, values outside the new ranges are left out."""
    if not warm_start:
        return []
    out: list[Trial] = []
    number = 0
    for parent in warm_start.get("ParentHyperParameterTuningJobs") or []:
        for view in trial_views(store, tstore, parent["HyperParameterTuningJobName"]):
            value = objective_value(view.record, view.objective_metric)
            if (not view.current or value is None
                    or view.record["TrainingJobStatus"] not in ("Completed", "Stopped")):
                continue
            try:
                config = space.parse({k: v for k, v in view.tuned.items() if k in space.names})
            except (ValueError, KeyError):
                continue
            if set(config) != set(space.names) or not space.contains(config):
                continue
            number -= 1
            out.append(Trial(number, config, TrialStatus.COMPLETED, value, (value,)))
    return out
