"""Trials as training jobs this process runs: the ``TrialBackend`` (runner.tuning.trial_backend)
over ``TrainingRun``, one thread per running trial, on the context's engine and store."""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import replace
from typing import Any

from runner.contract.metrics import MetricSample
from runner.core.specs import Spec
from runner.store.jobs import JobNotFound
from runner.training.context import RunContext
from runner.training.run import TrainingRun
from runner.tuning.trial_backend import TrialEvent, TrialEvents
from runner.tuning.tuner import Listener, Tuner

log = logging.getLogger("smlocal")


class LocalTrials:
    """Runs each trial's training job in a thread of this process (``TrainingRun``)."""

    def __init__(self, spec: Spec, ctx: RunContext, tuning_job: str) -> None:
        self.spec = spec  # the tuning job's: its local options and folder serve every trial
        self.ctx = ctx
        self.tuning_job = tuning_job
        self._events = TrialEvents(ctx.clock)

    def start(self, request: dict[str, Any], metric: str) -> None:
        run = self._run(request, metric)
        run.create()
        self._go(run, fresh=True)

    def resume(self, request: dict[str, Any], metric: str) -> list[float]:
        run = self._run(request, metric)
        values = self.metric_values(run.name, metric)
        self._go(run, fresh=False)
        return values

    def stop(self, job: str) -> None:
        with contextlib.suppress(JobNotFound):  # never created: nothing to stop
            self.ctx.store.request_stop(job, self.ctx.clock.now())

    def poll(self, timeout: float) -> list[TrialEvent]:
        return self._events.poll(timeout)

    def describe(self, job: str) -> dict[str, Any] | None:
        try:
            return self.ctx.store.record(job)
        except JobNotFound:
            return None

    def metric_values(self, job: str, metric: str) -> list[float]:
        return [v for _, v in self.ctx.store.metric_series(job).get(metric, [])]

    # -- the threads -----------------------------------------------------------------------
    def _run(self, request: dict[str, Any], metric: str) -> TrainingRun:
        job = request["TrainingJobName"]

        def on_metric(sample: MetricSample) -> None:
            if sample.name == metric:
                self._put(TrialEvent(job, value=sample.value))

        spec = replace(self.spec, request=request)
        return TrainingRun(spec, self.ctx, tuning_job=self.tuning_job, on_metric=on_metric)

    def _go(self, run: TrainingRun, fresh: bool) -> None:
        def work() -> None:
            try:
                run.run() if fresh else run.resume()
            except Exception as exc:  # a bug of ours: the job is recorded Failed; one line
                log.warning("smlocal: trial %s: smlocal failed: %s: %s", run.name,
                            type(exc).__name__, exc)
            finally:
                self._put(TrialEvent(run.name, ended=True))

        thread = threading.Thread(target=work, name=f"trial-{run.name}", daemon=True)
        thread.start()

    def _put(self, event: TrialEvent) -> None:
        self._events.put(event)


def local_tuner(spec: Spec, ctx: RunContext, listener: Listener | None = None) -> Tuner:
    """A tuner whose trials run in this process on the context's engine."""
    name = spec.request["HyperParameterTuningJobName"]
    return Tuner(spec, ctx.store, LocalTrials(spec, ctx, name), ctx.clock, listener)
