"""Reports of a stored tuning job or training job: what the plots and tables show (pure
functions over the store's records), CSV/JSON exports, and the static HTML page.

``runner.report.write`` writes them (CSV, JSON, or the HTML page of ``runner.report.html``
with the figures of ``runner.report.plots``).
The CSV/JSON columns follow the SageMaker SDK's ``HyperparameterTuningJobAnalytics.dataframe()``
(TrainingJobName, TrainingJobStatus, FinalObjectiveValue, the tuned hyperparameters,
TrainingStartTime, TrainingEndTime, TrainingElapsedTimeSeconds, TrainingJobDefinitionName),
plus ObjectiveStatus and the last value of every metric.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runner.store.jobs import Store
from runner.store.tuning import TuningStore
from runner.tuning import trial_jobs
from runner.tuning.describe import objective_status, objective_value
from runner.tuning.records import spaces, trial_views
from runner.tuning.search_parameters import Parameter
from runner.tuning.trials import Direction, Value

FORMATS = ("html", "csv", "json")
TUNING, TRAINING = "tuning", "training"
FAILURE_SHORT = 120
Series = dict[str, list[tuple[float, float]]]


class ReportError(Exception):
    """A report that cannot be written here (matplotlib missing)."""


@dataclass(frozen=True)
class JobRow:
    """One training job of the report; ``number`` counts from 1 in creation order."""

    number: int
    name: str
    status: str
    record: dict[str, Any]
    series: Series
    tuned: dict[str, Value] = field(default_factory=dict)
    objective_status: str | None = None
    objective: float | None = None
    direction: Direction = Direction.MINIMIZE
    definition: str | None = None
    current: bool = True

    @property
    def start(self) -> float | None:
        return _epoch(self.record.get("TrainingStartTime"))

    @property
    def end(self) -> float | None:
        return _epoch(self.record.get("TrainingEndTime"))

    @property
    def elapsed(self) -> float | None:
        return None if self.start is None or self.end is None else self.end - self.start

    @property
    def failure_reason(self) -> str:
        return str(self.record.get("FailureReason") or "")


@dataclass(frozen=True)
class ReportData:
    name: str
    kind: str  # TUNING or TRAINING
    record: dict[str, Any]  # the tuning job's record, or the training job's
    jobs: tuple[JobRow, ...]
    parameters: tuple[Parameter, ...] = ()
    metric: str | None = None  # the objective metric (tuning jobs)
    direction: Direction = Direction.MINIMIZE

    @property
    def best(self) -> JobRow | None:
        """The best current training job with an objective (as DescribeHyperParameterTuningJob's
        BestTrainingJob: the first of equal values wins)."""
        found: JobRow | None = None
        for job in self.jobs:
            if job.objective is None or not job.current:
                continue
            if found is None or job.direction.better(job.objective, found.objective):  # type: ignore[arg-type]
                found = job
        return found


def load(store: Store, name: str) -> ReportData:
    """The report's data for tuning job or training job ``name`` (JobNotFound if neither)."""
    tstore = TuningStore(store)
    if not tstore.exists(name):
        record = store.record(name)
        job = JobRow(1, name, record["TrainingJobStatus"], record, store.metric_series(name),
                     tuned=dict(sorted((k, _typed(str(v)))
                                       for k, v in (record.get("HyperParameters") or {}).items())))
        return ReportData(name, TRAINING, record, (job,))
    request, _ = tstore.request(name)
    space_of = spaces(request)
    parameters: dict[str, Parameter] = {}
    for space in space_of.values():
        for p in space.parameters:
            parameters.setdefault(p.name, p)
    views = sorted(enumerate(trial_views(store, tstore, name)),
                   key=lambda iv: (float(iv[1].record["CreationTime"]), iv[0]))
    jobs = []
    for number, (_, view) in enumerate(views, start=1):
        record = view.record
        space = space_of[view.definition]
        try:
            tuned = space.parse(view.tuned)
        except ValueError:
            tuned = {k: _typed(v) for k, v in view.tuned.items()}
        ostatus = objective_status(view)
        value = objective_value(record, view.objective_metric) if ostatus == "Succeeded" else None
        jobs.append(JobRow(
            number, record["TrainingJobName"], record["TrainingJobStatus"], record,
            store.metric_series(record["TrainingJobName"]), tuned, ostatus, value,
            Direction(view.objective_type), view.definition, view.current,
        ))
    objective = trial_jobs.objective(
        request, trial_jobs.definitions(request)[0][2])  # the first definition's
    return ReportData(name, TUNING, tstore.record(name), tuple(jobs), tuple(parameters.values()),
                      objective.get("MetricName"), Direction(objective.get("Type", "Minimize")))


def _epoch(value: Any) -> float | None:
    return None if value is None else float(value)


def _typed(text: str) -> Value:
    """A hyperparameter string as a number when it is one (as the SDK's dataframe does)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


# -- what the plots show --------------------------------------------------------------------
@dataclass(frozen=True)
class ObjectiveSeries:
    metric: str
    direction: Direction
    points: tuple[tuple[int, float, str], ...]  # (job number, final objective, TrainingJobStatus)
    best_so_far: tuple[tuple[int, float], ...]  # (job number, best objective up to it)
    omitted: dict[str, int]  # TrainingJobStatus -> jobs with no objective (not plotted)

    @property
    def total(self) -> int:
        return len(self.points) + sum(self.omitted.values())


def objective_series(data: ReportData) -> ObjectiveSeries:
    """The final objective of each training job in creation order, and the best so far."""
    points: list[tuple[int, float, str]] = []
    best: list[tuple[int, float]] = []
    omitted: Counter[str] = Counter()
    current: float | None = None
    for job in data.jobs:
        if job.objective is None:
            omitted[job.status] += 1
            continue
        points.append((job.number, job.objective, job.status))
        if current is None or data.direction.better(job.objective, current):
            current = job.objective
        best.append((job.number, current))
    return ObjectiveSeries(data.metric or "", data.direction, tuple(points), tuple(best),
                           dict(sorted(omitted.items())))


@dataclass(frozen=True)
class Curve:
    job: JobRow
    xs: tuple[float, ...]
    ys: tuple[float, ...]


def learning_curves(data: ReportData) -> tuple[str, dict[str, list[Curve]]]:
    """Every metric series of every training job: (x axis label, {metric: curves}), the
    objective metric first. x is seconds since the job's training start when every series has
    increasing timestamps, else the index of the value."""
    names = sorted({m for job in data.jobs for m in job.series},
                   key=lambda m: (m != data.metric, m))
    elapsed = all(
        all(b[0] > a[0] for a, b in zip(points, points[1:], strict=False))
        for job in data.jobs for points in job.series.values()
    )
    out: dict[str, list[Curve]] = {}
    for metric in names:
        curves = []
        for job in data.jobs:
            points = job.series.get(metric)
            if not points:
                continue
            ys = tuple(v for _, v in points)
            if elapsed:
                origin = job.start if job.start is not None else points[0][0]
                xs = tuple(t - origin for t, _ in points)
            else:
                xs = tuple(float(i) for i in range(1, len(points) + 1))
            curves.append(Curve(job, xs, ys))
        out[metric] = curves
    return ("seconds since training start" if elapsed else "value number"), out


def ranked(data: ReportData) -> list[JobRow]:
    """Best first: jobs with an objective by value, then the others in creation order."""
    scored = [j for j in data.jobs if j.objective is not None]
    scored.sort(key=lambda j: (j.direction.loss(j.objective), j.number))  # type: ignore[arg-type]
    return scored + [j for j in data.jobs if j.objective is None]


# -- CSV / JSON -------------------------------------------------------------------------------
def trial_table(data: ReportData) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows): one row per training job, values typed (numbers as numbers)."""
    hyper = [p.name for p in data.parameters] if data.kind == TUNING else sorted(
        {k for j in data.jobs for k in j.tuned})
    head = ["TrainingJobName", "TrainingJobStatus"]
    if data.kind == TUNING:
        head += ["ObjectiveStatus", "FinalObjectiveValue"]
    tail = ["TrainingStartTime", "TrainingEndTime", "TrainingElapsedTimeSeconds"]
    if data.kind == TUNING:
        tail.append("TrainingJobDefinitionName")
    fixed = set(head + hyper + tail)
    metrics = sorted({m for j in data.jobs for m in j.series})
    metric_column = {m: m if m not in fixed else f"metric:{m}" for m in metrics}
    rows = []
    for job in data.jobs:
        row: dict[str, Any] = {"TrainingJobName": job.name, "TrainingJobStatus": job.status}
        if data.kind == TUNING:
            row.update(ObjectiveStatus=job.objective_status, FinalObjectiveValue=job.objective)
        row.update({h: job.tuned.get(h) for h in hyper})
        row.update(TrainingStartTime=iso(job.start), TrainingEndTime=iso(job.end),
                   TrainingElapsedTimeSeconds=job.elapsed)
        if data.kind == TUNING:
            row["TrainingJobDefinitionName"] = job.definition
        for m in metrics:
            points = job.series.get(m)
            row[metric_column[m]] = (points[-1][1] if points and math.isfinite(points[-1][1])
                                     else None)
        rows.append(row)
    return head + hyper + tail + [metric_column[m] for m in metrics], rows


def iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()
