"""Trials as SageMaker training jobs (``tune --trials-on sagemaker``): the ``TrialBackend``
(runner.tuning.trial_backend) over ``CloudJobs``. The tuner runs here, with its own strategies
and schedulers; each trial is a CreateTrainingJob on SageMaker, followed on a thread of its
own into the store (its objective values scraped from its CloudWatch lines as they come), and
stopped with StopTrainingJob.

Nothing runs twice: a trial whose job SageMaker already has (a runner that died between
creating it and recording it) is recorded as SageMaker describes it and followed. A trial
SageMaker refuses (ResourceLimitExceeded, a role it cannot assume...) is recorded Failed with
SageMaker's reason, and ends.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from runner.api import builtin
from runner.api.cloud_jobs import CloudJobs
from runner.api.errors import ValidationException
from runner.aws.sagemaker import CloudError
from runner.cloud.follow import CloudFollower, to_record
from runner.cloud.pacing import MAX_INTERVAL
from runner.contract.metrics import MetricSample
from runner.core.problems import Problem, join_path
from runner.core.specs import Spec
from runner.shapes.status import training_job_arn, tuning_job_arn
from runner.store.jobs import JobNotFound
from runner.tuning import trial_jobs
from runner.tuning.trial_backend import TrialEvent, TrialEvents
from runner.tuning.tuner import Listener, Tuner

log = logging.getLogger("smlocal")
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
        request = self._for_the_cloud(request)
        name = request["TrainingJobName"]
        arn = None
        try:
            arn = self.jobs.cloud.create_training_job(request)
        except CloudError as exc:
            if exc.code != "ResourceInUse":  # (in use: created by a runner that died since)
                self._refused(request, exc)
                return
        self.jobs.record_created(request, LOCAL, self.tuning_job, self.tuning_arn, arn)
        self._go(name, metric)

    def resume(self, request: dict[str, Any], metric: str) -> list[float]:
        name = request["TrainingJobName"]
        values = self.metric_values(name, metric)
        self._go(name, metric)
        return values

    def stop(self, job: str) -> None:
        with contextlib.suppress(CloudError, ValidationException, JobNotFound):
            self.jobs.cloud.stop_training_job(job)  # (ended already: nothing to stop)

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
    def _for_the_cloud(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.cloud_image is None:
            return request
        algorithm = {**request["AlgorithmSpecification"], "TrainingImage": self.cloud_image}
        return {**request, "AlgorithmSpecification": algorithm}

    def _refused(self, request: dict[str, Any], exc: CloudError) -> None:
        """A trial SageMaker would not create: recorded Failed with its reason; it ends."""
        name = request["TrainingJobName"]
        now = self.jobs.clock.now()
        record = {"TrainingJobName": name, "TrainingJobArn": training_job_arn(name),
                  "TrainingJobStatus": "Failed", "SecondaryStatus": "Failed",
                  "FailureReason": f"SageMaker refused it: {exc}", "CreationTime": now,
                  "LastModifiedTime": now, "TrainingEndTime": now,
                  "TuningJobArn": self.tuning_arn, **to_record({}, self.jobs.cloud.place())}
        self.store.create_training_job(record, request, LOCAL, self.tuning_job)
        self._events.put(TrialEvent(name, ended=True))

    def _go(self, name: str, metric: str) -> None:
        def on_metric(sample: MetricSample) -> None:
            if sample.name == metric:
                self._events.put(TrialEvent(name, value=sample.value))

        def work() -> None:
            try:
                while True:
                    try:
                        CloudFollower(name, self.store, self.jobs.cloud, self.jobs.clock,
                                      self.jobs.notify, None, self.jobs.interval,
                                      on_metric, tell=False).follow()
                        return
                    except CloudError as exc:  # told; following goes on (the job does)
                        self.jobs.notify(f"trial {name}: cannot follow it on SageMaker "
                                         f"({exc}); trying again in {MAX_INTERVAL:g} s")
                        self.jobs.clock.sleep(MAX_INTERVAL)
            except Exception as exc:  # a bug of ours: one line, and the trial ends
                log.warning("smlocal: trial %s: smlocal failed: %s: %s", name,
                            type(exc).__name__, exc)
            finally:
                self._events.put(TrialEvent(name, ended=True))

        threading.Thread(target=work, name=f"trial-{name}", daemon=True).start()


def cloud_tuner(spec: Spec, jobs: CloudJobs, listener: Listener | None = None) -> Tuner:
    """A tuner (running here) whose trials are SageMaker training jobs."""
    name = spec.request["HyperParameterTuningJobName"]
    trials = CloudTrials(jobs, name, tuning_job_arn(name), spec.local.cloud_image)
    return Tuner(spec, jobs.store, trials, jobs.clock, listener)


def cloud_trial_problems(spec: Spec) -> list[Problem]:
    """What keeps a tuning job's trials off SageMaker: a built-in image with no
    ``Local.CloudImage``, local ways with no cloud meaning."""
    local, problems = spec.local, []
    for _, path, definition in trial_jobs.definitions(spec.request):
        image = (definition.get("AlgorithmSpecification") or {}).get("TrainingImage")
        if local.cloud_image is None and builtin.manifest_for(image) is not None:
            problems.append(Problem(join_path(path, "AlgorithmSpecification.TrainingImage"), (
                f"{image} is smlocal's built-in image, which SageMaker cannot pull: push it "
                "to ECR and give its URI as Local.CloudImage (or --cloud-image)")))
    for field, used in (("Build", local.build is not None), ("Gpus", local.gpus is not None)):
        if used:
            problems.append(Problem(f"Local.{field}", "has no meaning for trials on SageMaker"))
    return problems
