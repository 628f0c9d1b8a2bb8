"""A hyperparameter tuning job: one training job per trial, several at once.

The loop never knows which algorithm runs, nor where: a strategy suggests configurations from
the history, a scheduler answers continue/stop per reported objective value, and trials are
training jobs behind a ``TrialBackend`` (start, stop, poll; runner.tuning.trial_backend).
It waits only through the clock (``TrialBackend.poll``), so a fake engine and a fake clock run
the whole loop. Every decision is written to the store before it acts, so ``resume`` after a
crash rebuilds the same state from the store and carries on.

History is kept incrementally: it is read from the store (and the backend) once when the
loop starts; after that each trial's ``Trial`` is updated as its events arrive, and a finished
trial's value is computed once (finished trials never change).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runner.core.clock import Clock, SystemClock
from runner.core.specs import Spec
from runner.shapes import status
from runner.shapes.status import tuning_job_arn
from runner.store.jobs import Store
from runner.store.tuning import TrialRow, TuningStore
from runner.tuning import completion, trial_jobs
from runner.tuning.describe import is_retryable, objective_value
from runner.tuning.plans import Plan, make_plans, max_jobs
from runner.tuning.records import warm_start_trials
from runner.tuning.trial_backend import TrialBackend, TrialEvent
from runner.tuning.trials import Decision, Trial, TrialStatus

TICK_SECONDS = 0.2
Listener = Callable[[str, dict[str, Any]], None]


@dataclass
class _Live:
    """What the loop knows of a running trial beyond the store."""

    row: TrialRow
    values: list[float] = field(default_factory=list)
    stop_sent: bool = False


class Tuner:
    def __init__(
        self, spec: Spec, store: Store, trials: TrialBackend, clock: Clock | None = None,
        listener: Listener | None = None,
    ) -> None:
        self.spec = spec
        self.request = spec.request
        self.name: str = spec.request["HyperParameterTuningJobName"]
        self.store = store
        self.trials = trials
        self.clock: Clock = clock or SystemClock()
        self._ran = 0.0  # (set by run: the runtime is this plus the monotonic clock)
        self.tstore = TuningStore(store)
        self.plans = make_plans(self.request)
        self.by_name = {p.name: p for p in self.plans}
        self.max_jobs = max_jobs(self.request, self.plans)
        limits = self.request["HyperParameterTuningJobConfig"].get("ResourceLimits") or {}
        self.parallel = int(limits.get("MaxParallelTrainingJobs", 1))
        self.max_runtime = limits.get("MaxRuntimeInSeconds")
        self.retries = {
            p.name: int((p.definition.get("RetryStrategy") or {}).get("MaximumRetryAttempts", 0))
            for p in self.plans
        }
        self.listener = listener or (lambda kind, data: None)
        # WarmStartConfig: the parents' trials, per definition, as history for its strategy
        self.warm_start = {
            p.name: warm_start_trials(store, self.tstore, self.request.get("WarmStartConfig"),
                                      p.space)
            for p in self.plans
        }
        self.record: dict[str, Any] = {}
        self._live: dict[str, _Live] = {}
        self._pending: deque[TrialEvent] = deque()  # polled, not handled yet
        self._rows: list[TrialRow] | None = None  # this job's trials, read once, then kept
        self._ended: dict[str, Trial] = {}  # job -> its trial once the job ended (never changes)
        self._stopping: str | None = None  # why no new trial starts: "Stopped", "Completed", ...

    # -- life --------------------------------------------------------------------------------
    def create(self) -> dict[str, Any]:
        now = self.clock.now()
        record: dict[str, Any] = {
            "HyperParameterTuningJobName": self.name,
            "HyperParameterTuningJobArn": tuning_job_arn(self.name),
            "HyperParameterTuningJobStatus": "InProgress",
            "CreationTime": now,
            "LastModifiedTime": now,
        }
        for key in ("HyperParameterTuningJobConfig", "TrainingJobDefinition",
                    "TrainingJobDefinitions", "WarmStartConfig", "Autotune"):
            if key in self.request:
                record[key] = self.request[key]
        self.tstore.create(record, self.request, self.spec.stored_local())
        self.record = record
        return record

    def run(self) -> dict[str, Any]:
        """Run (or, after a crash, carry on with) the tuning job until it ends."""
        self.record = self.tstore.record(self.name)
        if self.record["HyperParameterTuningJobStatus"] in ("Completed", "Failed", "Stopped"):
            return self.record
        # its runtime: on the wall clock before this process (a resumed job's), then on the
        # monotonic one (a step of the wall clock is no time spent)
        self._ran = (max(self.clock.now() - self.record["CreationTime"], 0.0)
                     - self.clock.monotonic())
        try:
            self._resume_trials()
            self._loop()
        except KeyboardInterrupt:
            self._stop_all("Stopped")
            self._drain()
            self._end("Stopped")
            raise
        # a bug of ours: stop the trials, end Failed, never stay InProgress
        except Exception as exc:
            self.record["FailureReason"] = (
                f"InternalServerError: smlocal failed: {exc.__class__.__name__}: {exc}")
            self._stop_all("Failed")
            self._drain()
            self._end("Failed")
            raise
        return self.record

    def _loop(self) -> None:
        while True:
            self._check_limits()
            if self._stopping is None:
                self._launch()
            if not self._live:
                break
            self._pending.extend(self.trials.poll(TICK_SECONDS))
            while self._pending:
                self._take(self._pending.popleft())
        self._end(self._final_status())

    def _take(self, event: TrialEvent) -> None:
        try:
            self._handle(event)
        except BaseException:
            if event.ended:  # a bug while handling a trial's end: it ended all the same
                self._live.pop(event.job, None)
            raise

    # -- trials --------------------------------------------------------------------------------
    @property
    def rows(self) -> list[TrialRow]:
        if self._rows is None:
            self._rows = self.tstore.trials(self.name)
        return self._rows

    def _launch(self) -> None:
        rows = self.rows
        free = self.parallel - len(self._live)
        left = self.max_jobs - len(rows)
        if free <= 0 or left <= 0:
            return
        count = min(free, left)
        number = (rows[-1].number if rows else 0) + 1
        for plan in self._plans_in_turn(number, count):
            configs = plan.strategy.suggest(self.history(plan), 1)
            if not configs:
                continue
            job = trial_jobs.trial_job_name(self.name, number)
            self.tstore.add_trial(self.name, number, plan.name, dict(configs[0]), job)
            row = TrialRow(number, plan.name, dict(configs[0]), job, (job,))
            rows.append(row)
            self._start(row, fresh=True)
            number += 1

    def _plans_in_turn(self, first_number: int, count: int) -> list[Plan]:
        return [self.plans[(first_number - 1 + i) % len(self.plans)] for i in range(count)]

    def _start(self, row: TrialRow, fresh: bool) -> None:
        plan = self.by_name[row.definition]
        request = trial_jobs.trial_request(
            self.request, plan.definition, plan.space.format(row.config), row.job_name)
        live = _Live(row)
        if fresh:
            self.trials.start(request, plan.metric)
        else:
            live.values = self.trials.resume(request, plan.metric)
        self._live[row.job_name] = live  # (only once started: its end will come)
        self.listener("trial-started",
                      {"trial": row.number, "job": row.job_name, "config": row.config})

    def _resume_trials(self) -> None:
        for row in self.rows:
            record = self.trials.describe(row.job_name)
            if record is None:
                self._start(row, fresh=True)  # the runner died before the job was created
            elif not status.is_terminal(record):
                self._start(row, fresh=False)

    def _handle(self, event: TrialEvent) -> None:
        live = self._live.get(event.job)
        if live is None:
            return
        if event.ended:
            self._on_end(live)
        elif event.value is not None and math.isfinite(event.value):
            self._on_value(live, event.value)

    def _on_value(self, live: _Live, value: float) -> None:
        job = live.row.job_name
        live.values.append(value)
        plan = self.by_name[live.row.definition]
        trial = self._live_trial(live)
        self.listener("objective", {"trial": live.row.number, "job": job, "value": value,
                                    "epoch": len(live.values)})
        if (not live.stop_sent
                and plan.scheduler.on_report(trial, self.history(plan)) is Decision.STOP):
            live.stop_sent = True
            self.trials.stop(job)
            self.listener("trial-early-stopped", {"trial": live.row.number, "job": job,
                                                  "epoch": len(live.values)})

    def _on_end(self, live: _Live) -> None:
        job = live.row.job_name
        del self._live[job]
        record = self.trials.describe(job)
        plan = self.by_name[live.row.definition]
        if record is None:  # never created: a bug of the backend's; the trial failed
            record = {"TrainingJobName": job, "TrainingJobStatus": "Failed"}
        final = (objective_value(record, plan.metric) if record["TrainingJobStatus"] != "Failed"
                 else None)
        self.listener("trial-ended", {"trial": live.row.number, "job": job, "record": record,
                                      "objective": final})
        self._maybe_retry(live.row, record)
        self._check_completion()

    def _maybe_retry(self, row: TrialRow, record: dict[str, Any]) -> None:
        if self._stopping is not None or not is_retryable(record):
            return
        if len(row.attempts) > self.retries.get(row.definition, 0):
            return
        job = trial_jobs.trial_job_name(self.name, row.number, attempt=len(row.attempts))
        self.tstore.retry_trial(self.name, row.number, job)
        retried = TrialRow(row.number, row.definition, row.config, job, (*row.attempts, job))
        self._rows = [retried if r.number == row.number else r for r in self.rows]
        self._start(retried, fresh=True)

    # -- ending ----------------------------------------------------------------------------------
    def _check_completion(self) -> None:
        if self._stopping is not None:
            return
        config = self.request["HyperParameterTuningJobConfig"]
        for plan in self.plans:
            own = [t for t in self.history(plan) if t.number > 0]  # not the warm-start parents'
            reason = completion.completion_reason(
                config.get("TuningJobCompletionCriteria"), own, plan.direction,
                max_jobs=self.max_jobs
            )
            if reason:
                if reason == completion.CONVERGENCE_DETECTED:
                    self.record["ConvergenceDetectedTime"] = self.clock.now()
                self.listener("completion", {"reason": reason})
                self._stop_all("Completed")
                return

    def _check_limits(self) -> None:
        if self._stopping is None and self.tstore.stop_requested(self.name):
            self._set_status("Stopping")
            self._stop_all("Stopped")
        elif self._stopping is None and self.max_runtime:
            if self._ran + self.clock.monotonic() >= self.max_runtime:
                self.listener("completion", {"reason": "MaxRuntimeInSeconds reached"})
                self._stop_all("Completed")

    def _stop_all(self, outcome: str) -> None:
        self._stopping = outcome
        for job, live in self._live.items():
            if not live.stop_sent:
                live.stop_sent = True
                self.trials.stop(job)

    def _drain(self) -> None:
        """Wait for every running trial's end (its stop went out); the events a bug left
        unhandled count too."""
        while self._live:
            events = [*self._pending, *self.trials.poll(TICK_SECONDS)]
            self._pending.clear()
            for event in events:
                if event.ended:
                    self._live.pop(event.job, None)

    def _final_status(self) -> str:
        if self._stopping == "Stopped":
            return "Stopped"
        records = [self.trials.describe(row.job_name) for row in self.rows]
        if records and all(r is not None and r["TrainingJobStatus"] == "Failed" for r in records):
            self.record["FailureReason"] = (
                "All training jobs failed; see their FailureReason (smlocal trials).")
            return "Failed"
        return "Completed"

    def _end(self, final: str) -> None:
        now = self.clock.now()
        self.record["HyperParameterTuningEndTime"] = now
        self._set_status(final)

    def _set_status(self, value: str) -> None:
        self.record["HyperParameterTuningJobStatus"] = value
        self.record["LastModifiedTime"] = self.clock.now()
        self.tstore.save(self.record)
        self.listener("status", {"status": value})

    # -- history ---------------------------------------------------------------------------------
    def history(self, plan: Plan) -> list[Trial]:
        """Every trial of ``plan`` as the strategy and scheduler see it (plus warm-start
        parents' trials, numbered below zero): read from the store once, then kept."""
        out = list(self.warm_start.get(plan.name, []))
        for row in self.rows:
            if row.definition == plan.name:
                out.append(self._trial(row, plan))
        return out

    def _trial(self, row: TrialRow, plan: Plan) -> Trial:
        live = self._live.get(row.job_name)
        if live is not None:
            return self._live_trial(live)
        ended = self._ended.get(row.job_name)
        if ended is not None:
            return ended
        record = self.trials.describe(row.job_name)
        if record is None:
            return Trial(row.number, row.config, TrialStatus.PENDING)
        trial = replay(row, record, self.trials.metric_values(row.job_name, plan.metric),
                       plan.metric)
        if status.is_terminal(record):
            self._ended[row.job_name] = trial
        return trial

    def _live_trial(self, live: _Live) -> Trial:
        values = tuple(live.values)
        return Trial(live.row.number, live.row.config, TrialStatus.IN_PROGRESS,
                     values[-1] if values else None, values)


def replay(row: TrialRow, record: dict[str, Any], values: list[float], metric: str) -> Trial:
    """A trial as its training job's record and objective values show it."""
    trial_status = _TRIAL_STATUS.get(record["TrainingJobStatus"], TrialStatus.IN_PROGRESS)
    objective = objective_value(record, metric)
    if trial_status is TrialStatus.FAILED:
        objective = None
    elif trial_status.running:
        objective = values[-1] if values else None
    return Trial(row.number, row.config, trial_status, objective, tuple(values),
                 retryable=trial_status is TrialStatus.FAILED and is_retryable(record))


_TRIAL_STATUS = {
    "InProgress": TrialStatus.IN_PROGRESS,
    "Stopping": TrialStatus.IN_PROGRESS,
    "Completed": TrialStatus.COMPLETED,
    "Failed": TrialStatus.FAILED,
    "Stopped": TrialStatus.STOPPED,
}
