"""A hyperparameter tuning job: one training job per trial, several at once.

The loop never knows which algorithm runs: a strategy suggests configurations from the
history (rebuilt from the store), a scheduler answers continue/stop per reported objective
value, and trials run through ``TrainingRun`` on whatever backend the context holds.
Every decision is written to the store before it acts, so ``resume`` after a crash rebuilds
the same state and carries on.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from runner.contract.metrics import MetricSample
from runner.core.specs import Spec
from runner.shapes import status
from runner.shapes.status import tuning_job_arn
from runner.store.jobs import JobNotFound
from runner.store.tuning import TrialRow, TuningStore
from runner.training.run import RunContext, TrainingRun
from runner.tuning import completion, trial_jobs
from runner.tuning.describe import is_retryable, objective_value
from runner.tuning.plans import Plan, make_plans, max_jobs
from runner.tuning.records import warm_start_trials
from runner.tuning.trials import Decision, Trial, TrialStatus

TICK_SECONDS = 0.2
Event = tuple[str, str, Any]  # (kind, training job name, payload)
Listener = Callable[[str, dict[str, Any]], None]

log = logging.getLogger("smlocal")


@dataclass
class _Live:
    """What the loop knows of a running trial beyond the store."""

    row: TrialRow
    run: TrainingRun
    values: list[float] = field(default_factory=list)
    stop_sent: bool = False
    thread: threading.Thread | None = None  # runs the trial; ends after its "done" event


class Tuner:
    def __init__(self, spec: Spec, ctx: RunContext, listener: Listener | None = None) -> None:
        self.spec = spec
        self.request = spec.request
        self.name: str = spec.request["HyperParameterTuningJobName"]
        self.ctx = ctx
        self.tstore = TuningStore(ctx.store)
        self.plans = make_plans(self.request)
        self.by_name = {p.name: p for p in self.plans}
        self.max_jobs = max_jobs(self.request, self.plans)
        limits = self.request["HyperParameterTuningJobConfig"].get("ResourceLimits") or {}
        self.parallel = int(limits.get("MaxParallelTrainingJobs", 1))
        self.max_runtime = limits.get("MaxRuntimeInSeconds")
        self.retries = {
            p.name: int((p.definition.get("RetryStrategy") or {}).get("MaximumRetryAttempts", 0)) for p in self.plans
        }
        self.listener = listener or (lambda kind, data: None)
        # WarmStartConfig: the parents' trials, per definition, as history for its strategy
        self.warm_start = {
            p.name: warm_start_trials(ctx.store, self.tstore, self.request.get("WarmStartConfig"), p.space)
            for p in self.plans
        }
        self.record: dict[str, Any] = {}
        self._events: queue.Queue[Event] = queue.Queue()
        self._live: dict[str, _Live] = {}
        self._stopping: str | None = None  # why no new trial starts: "Stopped", "Completed", ...

    # -- life --------------------------------------------------------------------------------
    def create(self) -> dict[str, Any]:
        now = self.ctx.clock.now()
        record: dict[str, Any] = {
            "HyperParameterTuningJobName": self.name,
            "HyperParameterTuningJobArn": tuning_job_arn(self.name),
            "HyperParameterTuningJobStatus": "InProgress",
            "CreationTime": now,
            "LastModifiedTime": now,
        }
        for key in ("HyperParameterTuningJobConfig", "TrainingJobDefinition", "TrainingJobDefinitions",
                    "WarmStartConfig", "Autotune"):
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
        try:
            self._resume_trials()
            self._loop()
        except KeyboardInterrupt:
            self._stop_all("Stopped")
            self._drain()
            self._end("Stopped")
            raise
        except Exception as exc:  # a bug of ours: stop the trials, end Failed, never stay InProgress
            self.record["FailureReason"] = f"InternalServerError: smlocal failed: {exc.__class__.__name__}: {exc}"
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
            try:
                event = self._events.get(timeout=TICK_SECONDS)
            except queue.Empty:
                continue
            self._handle(event)
            while not self._events.empty():
                self._handle(self._events.get_nowait())
        self._end(self._final_status())

    # -- trials --------------------------------------------------------------------------------
    def _launch(self) -> None:
        rows = self.tstore.trials(self.name)
        free = self.parallel - len(self._live)
        left = self.max_jobs - len(rows)
        if free <= 0 or left <= 0:
            return
        count = min(free, left)
        number = (rows[-1].number if rows else 0) + 1
        for plan in self._plans_in_turn(number, count):
            history = self.history(plan)
            configs = plan.strategy.suggest(history, 1)
            if not configs:
                continue
            job = trial_jobs.trial_job_name(self.name, number)
            self.tstore.add_trial(self.name, number, plan.name, dict(configs[0]), job)
            row = TrialRow(number, plan.name, dict(configs[0]), job, (job,))
            self._start(row, fresh=True)
            number += 1

    def _plans_in_turn(self, first_number: int, count: int) -> list[Plan]:
        return [self.plans[(first_number - 1 + i) % len(self.plans)] for i in range(count)]

    def _start(self, row: TrialRow, fresh: bool) -> None:
        plan = self.by_name[row.definition]
        request = trial_jobs.trial_request(self.request, plan.definition, plan.space.format(row.config), row.job_name)
        spec = replace(self.spec, request=request)

        def on_metric(sample: MetricSample, job: str = row.job_name, metric: str = plan.metric) -> None:
            if sample.name == metric:
                self._events.put(("metric", job, sample.value))

        run = TrainingRun(spec, self.ctx, tuning_job=self.name, on_metric=on_metric)
        live = _Live(row, run)
        if fresh:
            run.create()
        else:
            series = self.ctx.store.metric_series(row.job_name).get(plan.metric, [])
            live.values = [v for _, v in series]
        self._live[row.job_name] = live
        self.listener("trial-started", {"trial": row.number, "job": row.job_name, "config": row.config})

        def work() -> None:
            try:
                run.run() if fresh else run.resume()
            except Exception as exc:  # a bug of ours: the trial is recorded Failed; one line, no traceback
                log.warning("smlocal: trial %s: smlocal failed: %s: %s", row.job_name, type(exc).__name__, exc)
            finally:
                self._events.put(("done", row.job_name, None))

        live.thread = threading.Thread(target=work, name=f"trial-{row.number}", daemon=True)
        live.thread.start()

    def _resume_trials(self) -> None:
        for row in self.tstore.trials(self.name):
            try:
                record = self.ctx.store.record(row.job_name)
            except JobNotFound:
                self._start(row, fresh=True)  # the runner died before the job was created
                continue
            if not status.is_terminal(record):
                self._start(row, fresh=False)

    def _handle(self, event: Event) -> None:
        kind, job, payload = event
        live = self._live.get(job)
        if live is None:
            return
        if kind == "metric":
            value = float(payload)
            if not math.isfinite(value):
                return
            live.values.append(value)
            plan = self.by_name[live.row.definition]
            trial = Trial(live.row.number, live.row.config, TrialStatus.IN_PROGRESS, value, tuple(live.values))
            history = [t if t.number != trial.number else trial for t in self.history(plan)]
            self.listener("objective", {"trial": live.row.number, "job": job, "value": value, "epoch": len(live.values)})
            if not live.stop_sent and plan.scheduler.on_report(trial, history) is Decision.STOP:
                live.stop_sent = True
                self.ctx.store.request_stop(job, self.ctx.clock.now())
                self.listener("trial-early-stopped", {"trial": live.row.number, "job": job, "epoch": len(live.values)})
        elif kind == "done":
            del self._live[job]
            record = self.ctx.store.record(job)
            plan = self.by_name[live.row.definition]
            final = objective_value(record, plan.metric) if record["TrainingJobStatus"] != "Failed" else None
            self.listener("trial-ended", {"trial": live.row.number, "job": job, "record": record, "objective": final})
            self._maybe_retry(live.row, record)
            self._check_completion()

    def _maybe_retry(self, row: TrialRow, record: dict[str, Any]) -> None:
        if self._stopping is not None or not is_retryable(record):
            return
        if len(row.attempts) > self.retries.get(row.definition, 0):
            return
        job = trial_jobs.trial_job_name(self.name, row.number, attempt=len(row.attempts))
        self.tstore.retry_trial(self.name, row.number, job)
        self._start(TrialRow(row.number, row.definition, row.config, job, (*row.attempts, job)), fresh=True)

    # -- ending ----------------------------------------------------------------------------------
    def _check_completion(self) -> None:
        if self._stopping is not None:
            return
        config = self.request["HyperParameterTuningJobConfig"]
        for plan in self.plans:
            own = [t for t in self.history(plan) if t.number > 0]  # not the warm-start parents'
            reason = completion.completion_reason(
                config.get("TuningJobCompletionCriteria"), own, plan.direction, max_jobs=self.max_jobs
            )
            if reason:
                if reason == completion.CONVERGENCE_DETECTED:
                    self.record["ConvergenceDetectedTime"] = self.ctx.clock.now()
                self.listener("completion", {"reason": reason})
                self._stop_all("Completed")
                return

    def _check_limits(self) -> None:
        if self._stopping is None and self.tstore.stop_requested(self.name):
            self._set_status("Stopping")
            self._stop_all("Stopped")
        elif self._stopping is None and self.max_runtime:
            if self.ctx.clock.now() - self.record["CreationTime"] >= self.max_runtime:
                self.listener("completion", {"reason": "MaxRuntimeInSeconds reached"})
                self._stop_all("Completed")

    def _stop_all(self, outcome: str) -> None:
        self._stopping = outcome
        for job, live in self._live.items():
            if not live.stop_sent:
                live.stop_sent = True
                self.ctx.store.request_stop(job, self.ctx.clock.now())

    def _drain(self) -> None:
        while self._live:
            try:
                event = self._events.get(timeout=TICK_SECONDS)
            except queue.Empty:  # a trial whose "done" went astray (a bug while handling it)
                for job in [j for j, live in self._live.items() if live.thread and not live.thread.is_alive()]:
                    self._live.pop(job)
                continue
            if event[0] == "done":
                self._live.pop(event[1], None)

    def _final_status(self) -> str:
        if self._stopping == "Stopped":
            return "Stopped"
        records = [self._job_record(row.job_name) for row in self.tstore.trials(self.name)]
        if records and all(r is not None and r["TrainingJobStatus"] == "Failed" for r in records):
            self.record["FailureReason"] = "All training jobs failed; see their FailureReason (smlocal trials)."
            return "Failed"
        return "Completed"

    def _end(self, final: str) -> None:
        now = self.ctx.clock.now()
        self.record["HyperParameterTuningEndTime"] = now
        self._set_status(final)

    def _set_status(self, value: str) -> None:
        self.record["HyperParameterTuningJobStatus"] = value
        self.record["LastModifiedTime"] = self.ctx.clock.now()
        self.tstore.save(self.record)
        self.listener("status", {"status": value})

    # -- history ---------------------------------------------------------------------------------
    def history(self, plan: Plan) -> list[Trial]:
        """Every trial of ``plan`` as the strategy and scheduler see it, rebuilt from the store
        (plus warm-start parents' trials, numbered below zero)."""
        out = list(self.warm_start.get(plan.name, []))
        for row in self.tstore.trials(self.name):
            if row.definition == plan.name:
                out.append(self._trial(row, plan))
        return out

    def _trial(self, row: TrialRow, plan: Plan) -> Trial:
        record = self._job_record(row.job_name)
        if record is None:
            return Trial(row.number, row.config, TrialStatus.PENDING)
        trial_status = _TRIAL_STATUS.get(record["TrainingJobStatus"], TrialStatus.IN_PROGRESS)
        live = self._live.get(row.job_name)
        if live is not None and not status.is_terminal(record):
            values = tuple(live.values)
        else:
            values = tuple(v for _, v in self.ctx.store.metric_series(row.job_name).get(plan.metric, []))
        objective = objective_value(record, plan.metric)
        if trial_status is TrialStatus.FAILED:
            objective = None
        elif trial_status.running:
            objective = values[-1] if values else None
        return Trial(row.number, row.config, trial_status, objective, values)

    def _job_record(self, job: str) -> dict[str, Any] | None:
        try:
            return self.ctx.store.record(job)
        except JobNotFound:
            return None


_TRIAL_STATUS = {
    "InProgress": TrialStatus.IN_PROGRESS,
    "Stopping": TrialStatus.IN_PROGRESS,
    "Completed": TrialStatus.COMPLETED,
    "Failed": TrialStatus.FAILED,
    "Stopped": TrialStatus.STOPPED,
}
