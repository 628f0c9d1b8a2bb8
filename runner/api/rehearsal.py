"""``smlocal tune SPEC --rehearse``: one short trial at each corner of the search space before
the tuning job spends anything (runner.tuning.corners has the corners and the verdicts).

Each trial is a training job of its own (``<tuning job>-rehearse-<k>``), never one of the
tuning job's: the trial's request as the tuner would make it, with ``MaxRuntimeInSeconds``
cut to the budget, stopped at its first objective value, its artifacts in
``<home>/rehearse/<tuning job>/`` and no checkpoints (the tuning job's S3 stays as it is).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from runner.api.training_jobs import TrainingJobs
from runner.contract.metrics import MetricSample
from runner.core.specs import Spec
from runner.shapes.status import training_start
from runner.tuning import corners as c
from runner.tuning import trial_jobs
from runner.tuning.search_space import parse_ranges

NAME_ROOM = 40


def rehearse(jobs: TrainingJobs, spec: Spec, seconds: float,
             notify: Callable[[str], None]) -> list[c.CornerResult]:
    """One trial per corner of each training job definition's search space, in turn."""
    request = spec.request
    base = str(request["HyperParameterTuningJobName"])[:NAME_ROOM].rstrip("-")
    folder = jobs.store.home / "rehearse" / base
    out: list[c.CornerResult] = []
    for _, path, definition in trial_jobs.definitions(request):
        space, problems = parse_ranges(trial_jobs.parameter_ranges(request, definition), path)
        if space is None:  # validation refused it before: said again, never half-done
            raise ValueError("; ".join(str(p) for p in problems))
        metric = str(trial_jobs.objective(request, definition).get("MetricName") or "")
        for config in c.corners(space):
            name = jobs.free_name(f"{base}-rehearse-{len(out) + 1:02d}")
            tuned = space.format(config)
            trial = trial_jobs.trial_request(request, definition, tuned, name)
            trial.pop("CheckpointConfig", None)
            trial["OutputDataConfig"] = {"S3OutputPath": f"file://{folder}"}
            limit = (trial.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds") or seconds
            trial["StoppingCondition"] = {"MaxRuntimeInSeconds": max(1, int(min(seconds, limit)))}
            notify(f"rehearsal: {name}: {', '.join(f'{k}={v}' for k, v in tuned.items())}")
            out.append(_trial(jobs, replace(spec, request=trial), metric, tuned, seconds))
    return out


def _trial(jobs: TrainingJobs, spec: Spec, metric: str, tuned: dict[str, str],
           seconds: float) -> c.CornerResult:
    name = spec.request["TrainingJobName"]
    first: list[MetricSample] = []

    def on_metric(sample: MetricSample) -> None:
        if sample.name == metric and not first:
            first.append(sample)

    job = jobs.create_training_job(spec, on_metric=on_metric)
    jobs.run_until(job, lambda: bool(first))  # the objective came: enough
    record = jobs.store.record(name)
    started = training_start(record)
    seen = ((first[0].value, max(first[0].timestamp - started, 0.0))
            if first and started is not None else None)
    verdict, detail = c.verdict(record, seen, job.scraper.nonfinite[metric], seconds)
    return c.CornerResult(name, tuned, verdict, detail)
