"""Trials as SageMaker training jobs (``tune --trials-on sagemaker``): the ``TrialBackend``
(runner.tuning.trial_backend) over ``CloudJobs``. The tuner runs here, with its own strategies
and schedulers; each trial is a CreateTrainingJob on SageMaker, followed on a thread of its
own into the store (its objective values scraped from its CloudWatch lines as they come), and
stopped with StopTrainingJob.

Nothing runs twice: a trial whose job SageMaker already has with the same hyperparameters (a
runner that died between creating it and recording it) is recorded as SageMaker describes it
and followed; one of that name with other hyperparameters (an earlier tuning job's: names are
never freed) is refused, never taken over. A trial SageMaker refuses is recorded Failed with
SageMaker's reason, and ends: the platform's failure (InternalServerError, retryable) unless
SageMaker found the request invalid.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from runner.api.cloud_jobs import (
    CloudJobs,
    builtin_image_problems,
    cloud_only_problems,
    with_image,
)
from runner.aws.sagemaker import CloudError
from runner.cloud.follow import CloudFollower, to_record
from runner.cloud.pacing import MAX_INTERVAL
from runner.contract.metrics import MetricSample
from runner.core.problems import Problem
from runner.core.specs import Spec
from runner.shapes.status import is_terminal, training_job_arn, tuning_job_arn
from runner.store.jobs import JobNotFound
from runner.tuning import trial_jobs
from runner.tuning.trial_backend import TrialEvent, TrialEvents
from runner.tuning.tuner import Listener, Tuner

log = logging.getLogger("smlocal")
STOP_ATTEMPTS = 4  # StopTrainingJob, while SageMaker throttles
FOLLOW_ATTEMPTS = 3  # non-transient refusals in a row before a trial is given up
LOCAL = {"Backend": "sagemaker"}  # a trial's stored local options


class CloudTrials:
    """Runs each trial's training job on SageMaker (see the module's rules)."""

    def __init__(self, jobs: CloudJobs, tuning_job: str, tuning_arn: str,
                 cloud_image: str | None) -> None:
        self.jobs = jobs
        self.store = jobs.store
        self.tuning_job = tuning_job
        self.tuning_arn = tuning_arn
        self.cloud_image = cloud_image
        self._events = TrialEvents(jobs.clock)

    def start(self, request: dict[str, Any], metric: str) -> None:
        request = with_image(request, self.cloud_image)
        name = request["TrainingJobName"]
        arn = None
        try:
            arn = self.jobs.cloud.create_training_job(request)
        except CloudError as exc:
            if exc.code != "ResourceInUse":
                self._refused(request, exc)
                return
            other = self._not_ours(request)
            if other is not None:
                self._refused(request, other)
                return
        self.jobs.record_created(request, LOCAL, self.tuning_job, self.tuning_arn, arn)
        self._go(name, metric)

    def resume(self, request: dict[str, Any], metric: str) -> list[float]:
        name = request["TrainingJobName"]
        values = self.metric_values(name, metric)
        self._go(name, metric)
        return values

    def stop(self, job: str) -> None:
        """StopTrainingJob, asked again while SageMaker throttles (a running trial left
        running is billed); a job that ended already has nothing to stop."""
        for attempt in range(STOP_ATTEMPTS):
            try:
                self.jobs.cloud.stop_training_job(job)
                return
            except CloudError as exc:
                if exc.code == "ValidationException":  # (ended, or never created)
                    return
                if not exc.transient or attempt + 1 == STOP_ATTEMPTS:
                    self.jobs.notify(f"trial {job}: StopTrainingJob failed: {exc}")
                    return
                self.jobs.clock.sleep(2.0 ** attempt)

    def poll(self, timeout: float) -> list[TrialEvent]:
        return self._events.poll(timeout)

    def describe(self, job: str) -> dict[str, Any] | None:
        try:
            return self.store.record(job)
        except JobNotFound:
            return None

    def metric_values(self, job: str, metric: str) -> list[float]:
        return [v for _, v in self.store.metric_series(job).get(metric, [])]

    # -- helpers ---------------------------------------------------------------------------
    def _not_ours(self, request: dict[str, Any]) -> CloudError | None:
        """For a name SageMaker has already: None when it is this trial's job (created by a
        runner that died before recording it), else why it is not (a trial of an earlier
        tuning job of that name: names are never freed there)."""
        name = request["TrainingJobName"]
        described = self.jobs.cloud.describe_training_job(name)
        if described.get("HyperParameters") == request.get("HyperParameters"):
            return None
        return CloudError(f"ResourceInUse: SageMaker has a training job {name} with other "
                          "hyperparameters (a trial of an earlier tuning job of this name?): "
                          "give the tuning job a name of its own", "ResourceInUse", False)

    def _refused(self, request: dict[str, Any], exc: CloudError) -> None:
        """A trial SageMaker would not create: recorded Failed with its reason, and it ends.
        Only a request SageMaker found invalid counts against the configuration; any other
        refusal (a limit, throttling, a role) is the platform's: an InternalServerError,
        retried as one, and kept out of the search's model."""
        name = request["TrainingJobName"]
        now = self.jobs.clock.now()
        kind = "ClientError" if exc.code == "ValidationException" else "InternalServerError"
        self._record_failed(request, f"{kind}: SageMaker refused it: {exc}", now)
        self._events.put(TrialEvent(name, ended=True))

    def _record_failed(self, request: dict[str, Any], reason: str, now: float) -> None:
        name = request["TrainingJobName"]
        record = {"TrainingJobName": name, "TrainingJobArn": training_job_arn(name),
                  "TrainingJobStatus": "Failed", "SecondaryStatus": "Failed",
                  "FailureReason": reason, "CreationTime": now, "LastModifiedTime": now,
                  "TrainingEndTime": now, "TuningJobArn": self.tuning_arn,
                  **to_record({}, self.jobs.cloud.place())}
        self.store.create_training_job(record, request, LOCAL, self.tuning_job)

    def _go(self, name: str, metric: str) -> None:
        def on_metric(sample: MetricSample) -> None:
            if sample.name == metric:
                self._events.put(TrialEvent(name, value=sample.value))

        def work() -> None:
            try:
                self._follow(name, on_metric)
            except Exception as exc:  # a bug of ours: one line, and the trial ends
                log.warning("smlocal: trial %s: smlocal failed: %s: %s", name,
                            type(exc).__name__, exc)
            finally:
                self._events.put(TrialEvent(name, ended=True))

        threading.Thread(target=work, name=f"trial-{name}", daemon=True).start()

    def _follow(self, name: str, on_metric: Callable[[MetricSample], None]) -> None:
        """Follow the trial's job to its end. SageMaker refusing to describe it or its logs
        (a role without ``logs:*``) is told and tried again; the third refusal in a row
        stops the job and records the trial Failed (InternalServerError), so the tuning job
        never waits on a trial it cannot see."""
        jobs = self.jobs
        for attempt in range(FOLLOW_ATTEMPTS):
            try:
                CloudFollower(name, self.store, jobs.cloud, jobs.clock, jobs.notify, None,
                              jobs.interval, on_metric, tell=False).follow()
                return
            except CloudError as exc:  # (transient ones the follower waits out itself)
                if attempt + 1 == FOLLOW_ATTEMPTS:
                    self.stop(name)
                    record = self.store.record(name)
                    if not is_terminal(record):
                        self.store.save_record({
                            **record, "TrainingJobStatus": "Failed",
                            "SecondaryStatus": "Failed", "TrainingEndTime": jobs.clock.now(),
                            "FailureReason": f"InternalServerError: smlocal could not follow "
                                             f"it on SageMaker ({exc}); StopTrainingJob sent"})
                    return
                jobs.notify(f"trial {name}: cannot follow it on SageMaker ({exc}); trying "
                            f"again in {MAX_INTERVAL:g} s")
                jobs.clock.sleep(MAX_INTERVAL)


def cloud_tuner(spec: Spec, jobs: CloudJobs, listener: Listener | None = None) -> Tuner:
    """A tuner (running here) whose trials are SageMaker training jobs."""
    name = spec.request["HyperParameterTuningJobName"]
    trials = CloudTrials(jobs, name, tuning_job_arn(name), spec.local.cloud_image)
    return Tuner(spec, jobs.store, trials, jobs.clock, listener)


def cloud_trial_problems(spec: Spec) -> list[Problem]:
    """What keeps a tuning job's trials off SageMaker: a built-in image with no
    ``Local.CloudImage``, local ways with no cloud meaning."""
    definitions = [(path, d) for _, path, d in trial_jobs.definitions(spec.request)]
    return (builtin_image_problems(spec.local, definitions)
            + cloud_only_problems(spec.local, ("Build", "Gpus", "Interruptions")))
