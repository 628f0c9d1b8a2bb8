"""Tuning jobs on SageMaker itself (``tune --backend sagemaker``): the request file, less its
``Local`` section, checked as ``validate --for-cloud`` checks it, submitted with boto3, and
followed from here into the same store as local tuning jobs, so that ``describe``, ``trials``,
``report`` and warm start read it as they read a local one.

Following (one round every ``interval`` seconds, paced as ``runner.cloud.pacing`` says): a
DescribeHyperParameterTuningJob and the pages of ListTrainingJobsForHyperParameterTuningJob.
A training job seen for the first time becomes a trial row (numbered in creation order, its
TunedHyperParameters as its configuration) and a training-job record; when it ends, it is
described and its CloudWatch lines read (``CloudFollower``), once. Running trials' lines are
not read while they run: that would cost calls for every trial every round. The tuning job's
record is SageMaker's answer, and ``describe`` returns it as SageMaker gave it.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

from runner.api import builtin
from runner.api.cloud_jobs import (
    CloudJobs,
    builtin_image_problems,
    cloud_only_problems,
    request_of,
)
from runner.api.errors import ResourceInUse, ResourceNotFound, ValidationException
from runner.api.leases import hold
from runner.aws.sagemaker import CloudError, SageMakerCloud
from runner.cloud.follow import CloudFollower, to_record
from runner.cloud.pacing import until_done
from runner.core.specs import Spec
from runner.shapes.status import TERMINAL, is_terminal
from runner.shapes.training_jobs import cloud_place
from runner.store import lease
from runner.store.tuning import TuningStore
from runner.tuning import trial_jobs
from runner.tuning.records import spaces
from runner.tuning.tuner import Listener


class CloudTuning:
    """Tuning jobs on SageMaker, recorded in ``jobs.store`` (see the module's rules)."""

    def __init__(self, jobs: CloudJobs, tstore: TuningStore) -> None:
        self.jobs = jobs
        self.store = jobs.store
        self.tstore = tstore

    def is_cloud_job(self, name: str) -> bool:
        return self.tstore.exists(name) and cloud_place(self.tstore.record(name)) is not None

    def create_hyper_parameter_tuning_job(self, spec: Spec, rename: bool = True) -> str:
        """Check as the cloud would (ValidationException), submit, record; the job's name
        (``<name>-cloud`` when the store holds ``name``, unless not ``rename``)."""
        request = self.cloud_request(spec)
        name = self.jobs.cloud_name(request["HyperParameterTuningJobName"],
                                    "CreateHyperParameterTuningJob",
                                    "HyperParameterTuningJobName", self.tstore.exists, rename)
        request["HyperParameterTuningJobName"] = name
        cloud = self.jobs.cloud
        arn = CloudJobs.refuse_cloud(cloud.create_hyper_parameter_tuning_job, request)
        place = cloud.place()
        try:
            record = to_record(cloud.describe_hyper_parameter_tuning_job(name), place)
        except CloudError:  # (not yet visible there: recorded as it will be; following fills in)
            now = self.jobs.clock.now()
            record = {"HyperParameterTuningJobName": name, "HyperParameterTuningJobArn": arn,
                      "HyperParameterTuningJobStatus": "InProgress", "CreationTime": now,
                      "LastModifiedTime": now, **to_record({}, place)}
        self.tstore.create(record, request, {**spec.stored_local(), "Backend": "sagemaker"})
        self.jobs.notify(f"tuning job {name}: submitted to SageMaker ({place.region}, "
                         f"{place.endpoint_url})")
        return name

    def cloud_request(self, spec: Spec) -> dict[str, Any]:
        """The request SageMaker is sent: the file's, less ``Local``, each definition's
        built-in image swapped for ``Local.CloudImage`` (ValidationException)."""
        from runner.api.tuning_validation import validate_tuning

        request = builtin.complete(spec.request)
        problems = validate_tuning(replace(spec, request=request), for_cloud=True,
                                   image_check=None, parent_exists=self.tstore.exists)
        local = spec.local
        definitions = [(path, d) for _, path, d in trial_jobs.definitions(request)]
        problems += cloud_only_problems(local, ("Build", "Gpus", "Interruptions", "TrialsOn"))
        problems += builtin_image_problems(local, definitions)
        if local.cloud_image is not None:
            image = local.cloud_image
            request = builtin.map_algorithms(request, lambda a: {**a, "TrainingImage": image})
        if problems:
            raise ValidationException(sorted(set(problems)))
        return request

    def follow(self, name: str, listener: Listener) -> dict[str, Any]:
        """Follow the cloud tuning job until it and its trials end (holding its lease); its
        final record. Ctrl-C leaves it running on SageMaker."""
        cloud = self._reaching(name)
        with hold(self.store.home, lease.TUNING, name):
            stored = self.tstore.record(name)
            if stored["HyperParameterTuningJobStatus"] in TERMINAL:  # followed to its end before
                return stored
            follower = _TuningFollower(self, name, listener, cloud)
            return until_done(follower.round, self.jobs.clock, self.jobs.interval,
                              self.jobs.notify, f"tuning job {name}")

    def stop(self, name: str) -> None:
        """StopHyperParameterTuningJob on SageMaker."""
        CloudJobs.refuse_cloud(self._reaching(name).stop_hyper_parameter_tuning_job, name)
        self.jobs.notify(f"tuning job {name}: StopHyperParameterTuningJob sent to SageMaker")


    def import_hyper_parameter_tuning_job(self, name: str) -> None:
        """Record a tuning job that ran (or runs) on SageMaker, with its request as SageMaker
        describes it; :meth:`follow` then records its trials and reads each ended one's
        lines (until then it is recorded InProgress, whatever its status there)."""
        if self.tstore.exists(name):
            raise ResourceInUse(f"Hyperparameter tuning job {name} already exists in this store")
        cloud = self.jobs.cloud
        try:
            described = cloud.describe_hyper_parameter_tuning_job(name)
        except CloudError as exc:
            if exc.code in ("ValidationException", "ResourceNotFound"):
                raise ResourceNotFound(f"SageMaker has no tuning job {name}: {exc}") from None
            raise
        request = request_of("CreateHyperParameterTuningJob", described)
        record = to_record(described, cloud.place())
        if record["HyperParameterTuningJobStatus"] in TERMINAL:  # (its trials are read first)
            record["HyperParameterTuningJobStatus"] = "InProgress"
        self.tstore.create(record, request, {"Backend": "sagemaker"})

    def _reaching(self, name: str) -> SageMakerCloud:
        if not self.tstore.exists(name):
            raise ResourceNotFound(f"Could not find job {name}")
        place = cloud_place(self.tstore.record(name))
        if place is None:
            raise ResourceNotFound(f"Tuning job {name} ran here, not on SageMaker")
        return self.jobs.reach(f"tuning job {name}", place)


class _TuningFollower:
    def __init__(self, tuning: CloudTuning, name: str, listener: Listener,
                 cloud: SageMakerCloud) -> None:
        self.tuning = tuning
        self.name = name
        self.listener = listener
        self.cloud = cloud
        self.place = self.cloud.place()
        self.arn = tuning.tstore.record(name).get("HyperParameterTuningJobArn")
        request, _ = tuning.tstore.request(name)
        self.request = request
        self.spaces = spaces(request)
        self.numbers = {row.job_name: row.number for row in tuning.tstore.trials(name)}
        self.read: set[str] = set()  # trials ended and read: skipped in later rounds
        self.status = ""

    def round(self) -> dict[str, Any] | None:
        record = to_record(self.cloud.describe_hyper_parameter_tuning_job(self.name), self.place)
        trials = self.cloud.tuning_job_trials(self.name)
        for summary in trials:
            self._trial(summary)
        status = record["HyperParameterTuningJobStatus"]
        if status != self.status:
            self.status = status
            self.listener("status", {"status": status})
        ended = all(s.get("TrainingJobStatus") in TERMINAL for s in trials)
        if status in TERMINAL and not ended:  # (its last trials still stopping: not saved yet,
            return None  # an ended record never changes again)
        self.tuning.tstore.save(record)
        return record if status in TERMINAL else None

    def _trial(self, summary: dict[str, Any]) -> None:
        job = summary["TrainingJobName"]
        if job in self.read:  # (ended, described and its lines read: nothing more to do)
            return
        store, tstore = self.tuning.store, self.tuning.tstore
        definition = summary.get("TrainingJobDefinitionName") or trial_jobs.SINGLE_DEFINITION
        if job not in self.numbers:
            number = len(self.numbers) + 1
            config = self._config(definition, summary.get("TunedHyperParameters") or {})
            tstore.add_trial(self.name, number, definition, config, job)
            self.numbers[job] = number
            self.listener("trial-started", {"trial": number, "job": job, "config": config})
        if not store.has_training_job(job):
            record = {**to_record(_summary_record(summary), self.place), "TuningJobArn": self.arn}
            request = self._trial_request(job, definition, summary)
            store.create_training_job(record, request, {"Backend": "sagemaker"}, self.name)
        if summary.get("TrainingJobStatus") not in TERMINAL:
            return
        if not is_terminal(store.record(job)):
            jobs = self.tuning.jobs
            final = CloudFollower(job, store, self.cloud, jobs.clock, jobs.notify,
                                  interval=jobs.interval, tell=False).follow()
            metric = summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
            self.listener("trial-ended", {"trial": self.numbers[job], "job": job,
                                          "record": final, "objective": metric.get("Value")})
        self.read.add(job)

    def _trial_request(self, job: str, definition_name: str,
                       summary: dict[str, Any]) -> dict[str, Any]:
        """The trial's request as far as this store needs it: its definition's algorithm
        (the MetricDefinitions its lines are scraped with) and hyperparameters."""
        definition = next((d for n, _, d in trial_jobs.definitions(self.request)
                           if n == definition_name), {})
        tuned = dict(summary.get("TunedHyperParameters") or {})
        return {"TrainingJobName": job,
                "AlgorithmSpecification": definition.get("AlgorithmSpecification") or {},
                "HyperParameters": {**(definition.get("StaticHyperParameters") or {}), **tuned}}

    def _config(self, definition: str, tuned: dict[str, str]) -> dict[str, Any]:
        space = self.spaces.get(definition)
        try:
            return dict(space.parse(tuned)) if space is not None else dict(tuned)
        except ValueError:  # (a value our parser reads otherwise: kept as SageMaker gave it)
            return dict(tuned)


@functools.cache
def _summary_keys() -> frozenset[str]:
    from runner.shapes.training_jobs import output_members

    return output_members("DescribeTrainingJob")


def _summary_record(summary: dict[str, Any]) -> dict[str, Any]:
    """A training job's record as far as its TrainingJobSummary tells, until it is described
    at its end: the summary's members that DescribeTrainingJob has too, and InProgress (a job
    seen first after its end is still to be described, its lines still to be read)."""
    record = {k: v for k, v in summary.items() if k in _summary_keys()}
    if record.get("TrainingJobStatus") in TERMINAL:
        record["TrainingJobStatus"] = "InProgress"
    record.setdefault("TrainingJobStatus", "InProgress")
    record.setdefault("SecondaryStatus", "Starting")
    return record
