"""Training jobs on SageMaker itself (``Local.Backend: sagemaker``, ``--backend sagemaker``):
the same request file, checked as ``validate --for-cloud`` checks it, submitted with boto3,
recorded in the same store as local jobs, and followed from here (``runner.cloud.follow``).

A cloud job is recorded under its name with its request, its DescribeTrainingJob answers and
where it runs (region and endpoint: a ``stop`` or ``--resume`` from another process reaches it
there, or says why it cannot). Local ways that have no cloud meaning (``Local.Build``,
``Gpus``, rehearsed interruptions) are refused rather than dropped silently.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from runner.api import builtin
from runner.api.errors import ResourceInUse, ResourceNotFound, ValidationException
from runner.api.leases import hold
from runner.api.training_jobs import first_free
from runner.aws.clients import AwsClients, AwsConfig
from runner.aws.sagemaker import CloudError, SageMakerCloud
from runner.cloud.follow import CloudFollower, Echo, to_record
from runner.core.clock import Clock, SystemClock
from runner.core.problems import Problem, join_path
from runner.core.specs import LocalOptions, Spec
from runner.shapes.status import training_job_arn
from runner.shapes.training_jobs import cloud_place, epoch_seconds
from runner.store import lease
from runner.store.jobs import Store
from runner.store.tuning import stored_tuning_job_exists

Notify = Callable[[str], None]


@dataclass
class CloudJobs:
    """Training jobs on SageMaker, recorded in ``store``."""

    store: Store
    endpoint_url: str | None = None  # --endpoint-url: every AWS service there
    notify: Notify = lambda message: None
    clock: Clock = SystemClock()  # noqa: RUF009 - stateless
    interval: float = 2.0  # seconds between rounds of following

    @functools.cached_property
    def cloud(self) -> SageMakerCloud:
        return SageMakerCloud(AwsClients(AwsConfig(endpoint_url=self.endpoint_url)))

    def is_cloud_job(self, name: str) -> bool:
        return (self.store.has_training_job(name)
                and cloud_place(self.store.record(name)) is not None)

    # -- CreateTrainingJob on SageMaker ------------------------------------------------------
    def create_training_job(self, spec: Spec, rename: bool = True) -> str:
        """Check the request as the cloud would (ValidationException), submit it to SageMaker
        and record it here; its name. SageMaker's refusals are CloudErrors (nothing recorded)."""
        request = self.cloud_request(spec)
        name = self.cloud_name(request["TrainingJobName"], "CreateTrainingJob",
                               "TrainingJobName", self.store.has_training_job, rename)
        request["TrainingJobName"] = name
        arn = self.refuse_cloud(self.cloud.create_training_job, request)
        self.record_created(request, {**spec.stored_local(), "Backend": "sagemaker"}, arn=arn)
        place = self.cloud.place()
        self.notify(f"training job {name}: submitted to SageMaker ({place.region}, "
                    f"{place.endpoint_url})")
        return name

    def cloud_name(self, name: str, operation: str, member: str,
                   taken: Callable[[str], bool], rename: bool = True) -> str:
        """``name``; or, when this store holds a job of that name already (the local run of
        the same file), ``<name>-cloud`` (``-cloud-2`` ...), told. ResourceInUse when that
        is longer than SageMaker allows, or ``rename`` is False (a name the user gave)."""
        if not taken(name):
            return name
        if not rename:
            raise ResourceInUse(f"{name} already exists in this store: give the cloud run "
                                "another --name")
        from runner.shapes.model import string_rule

        found = first_free(f"{name}-cloud", taken)
        if len(found) > (string_rule(operation, member)["maximum"] or len(found)):
            raise ResourceInUse(f"{name} already exists in this store, and {found} is too "
                                "long a name for SageMaker: --name gives the cloud run its own")
        self.notify(f"{name} is recorded here already: the SageMaker run is {found} (--name "
                    "names it)")
        return found

    def record_created(self, request: dict[str, Any], local: dict[str, Any],
                       tuning_job: str | None = None, tuning_arn: str | None = None,
                       arn: str | None = None) -> None:
        """Record a job just created on SageMaker (``arn``: as CreateTrainingJob answered),
        as it describes it (or, not yet visible there, as it will be: InProgress,
        Starting); a trial's with its tuning job's ARN."""
        place = self.cloud.place()
        name = request["TrainingJobName"]
        try:
            record = to_record(self.cloud.describe_training_job(name), place)
        except CloudError:  # (eventual consistency)
            now = self.clock.now()
            record = {"TrainingJobName": name,
                      "TrainingJobArn": arn or training_job_arn(name),
                      "TrainingJobStatus": "InProgress",
                      "SecondaryStatus": "Starting", "CreationTime": now,
                      "LastModifiedTime": now, **to_record({}, place)}
        if tuning_arn is not None:
            record["TuningJobArn"] = tuning_arn
        self.store.create_training_job(record, request, local, tuning_job)

    def cloud_request(self, spec: Spec) -> dict[str, Any]:
        """The CreateTrainingJob request SageMaker is sent: the file's, less its ``Local``
        section, built-in images swapped for ``Local.CloudImage`` (ValidationException)."""
        local = spec.local
        request = builtin.complete(spec.request)
        from runner.api.validation import validate_training

        # (checked with its own image: a built-in's hyperparameters against its manifest)
        problems = validate_training(replace(spec, request=request), for_cloud=True)
        problems += cloud_only_problems(local, ("Build", "Gpus", "Interruptions"))
        problems += builtin_image_problems(local, [("", request)])
        request = with_image(request, local.cloud_image)
        if problems:
            raise ValidationException(sorted(set(problems)))
        return request

    # -- following, stopping, importing ------------------------------------------------------
    def follow(self, name: str, echo: Echo | None = None) -> dict[str, Any]:
        """Follow the cloud job until it ends (holding its lease: one follower at a time);
        its final record. Ctrl-C leaves the cloud job running."""
        cloud = self._reaching(name)
        tuning = str(self.store.record(name).get("TuningJobArn") or "").rpartition("/")[2]
        if tuning and stored_tuning_job_exists(self.store.home, tuning):
            raise ResourceInUse(f"{name} is a trial of tuning job {tuning}, which follows it "
                                "(smlocal tune --resume carries that one on)")
        with hold(self.store.home, lease.TRAINING, name):
            return CloudFollower(name, self.store, cloud, self.clock, self.notify, echo,
                                 self.interval).follow()

    def stop_training_job(self, name: str) -> None:
        """StopTrainingJob on SageMaker (the job ends there; following shows it)."""
        self.refuse_cloud(self._reaching(name).stop_training_job, name)
        self.notify(f"training job {name}: StopTrainingJob sent to SageMaker")

    def import_training_job(self, name: str, echo: Echo | None = None) -> dict[str, Any]:
        """Record a training job that ran (or runs) on SageMaker: its request as SageMaker
        describes it, its record, its log lines and metrics; its record. A job still running
        is followed to its end (Ctrl-C: recorded, left running; ``train --resume`` follows)."""
        if self.store.has_training_job(name):
            raise ResourceInUse(f"Training job {name} already exists in this store")
        try:
            described = self.cloud.describe_training_job(name)
        except CloudError as exc:
            if exc.code in ("ValidationException", "ResourceNotFound"):
                raise ResourceNotFound(f"SageMaker has no training job {name}: {exc}") from None
            raise
        self.store.create_training_job(to_record(described, self.cloud.place()),
                                       request_of("CreateTrainingJob", described),
                                       {"Backend": "sagemaker"})
        return self.follow(name, echo)

    def _reaching(self, name: str) -> SageMakerCloud:
        """The cloud where the stored job ``name`` runs (ResourceNotFound: not a cloud job
        of this store; ValidationException: this process reaches another endpoint)."""
        if not self.store.has_training_job(name):
            raise ResourceNotFound(f"Training job {name} does not exist")
        place = cloud_place(self.store.record(name))
        if place is None:
            raise ResourceNotFound(f"Training job {name} ran here, not on SageMaker")
        return self.reach(f"training job {name}", place)

    def reach(self, what: str, place: dict[str, str]) -> SageMakerCloud:
        """SageMaker where a recorded job runs (``place``: its region and endpoint), or
        ValidationException when this process reaches another endpoint."""
        cloud = self.cloud
        if cloud.clients.region() != place["Region"]:
            cloud = SageMakerCloud(AwsClients(AwsConfig(endpoint_url=self.endpoint_url,
                                                        region=place["Region"])))
        here = cloud.place().endpoint_url
        if here != place["EndpointUrl"]:
            raise ValidationException([Problem("AWS_ENDPOINT_URL_SAGEMAKER", (
                f"{what} runs at {place['EndpointUrl']}; this process reaches SageMaker at "
                f"{here}: set the endpoint (and credentials) it was submitted with"))])
        return cloud

    @staticmethod
    def refuse_cloud(call: Callable[[Any], Any], argument: Any) -> Any:
        """``call(argument)``'s answer; SageMaker's ValidationException and ResourceInUse
        as ours (exit 2)."""
        try:
            return call(argument)
        except CloudError as exc:
            if exc.code == "ValidationException":
                raise ValidationException([Problem("SageMaker", str(exc))]) from None
            if exc.code == "ResourceInUse":  # (a job of that name there: import records it)
                raise ResourceInUse(f"{exc} (`smlocal import NAME` records a job that is "
                                    "there already)") from None
            raise


def cloud_only_problems(local: LocalOptions, fields: tuple[str, ...]) -> list[Problem]:
    """The ``Local`` options among ``fields`` that are set: they have no meaning on SageMaker,
    and are refused rather than dropped."""
    used = {"Build": local.build is not None, "Gpus": local.gpus is not None,
            "Interruptions": bool(local.interruptions), "TrialsOn": local.trials_on != "local"}
    return [Problem(f"Local.{field}", "has no meaning on SageMaker: remove it to run there")
            for field in fields if used[field]]


def builtin_image_problems(local: LocalOptions,
                           definitions: list[tuple[str, dict[str, Any]]]) -> list[Problem]:
    """Built-in images (``smlocal/...``) that SageMaker would be asked to pull: refused unless
    ``Local.CloudImage`` names the ECR image to run instead. ``definitions``: (field path,
    a request or training job definition with an AlgorithmSpecification)."""
    if local.cloud_image is not None:
        return []
    problems = []
    for path, definition in definitions:
        image = (definition.get("AlgorithmSpecification") or {}).get("TrainingImage")
        if builtin.manifest_for(image) is not None:
            problems.append(Problem(join_path(path, "AlgorithmSpecification.TrainingImage"), (
                f"{image} is smlocal's built-in image, which SageMaker cannot pull: push it to "
                "ECR and give its URI as Local.CloudImage (or --cloud-image)")))
    return problems


def with_image(holder: dict[str, Any], image: str | None) -> dict[str, Any]:
    """A request or training job definition with ``image`` (``Local.CloudImage``) as its
    TrainingImage; ``holder`` itself when there is none."""
    if image is None:
        return holder
    return {**holder, "AlgorithmSpecification": {
        **(holder.get("AlgorithmSpecification") or {}), "TrainingImage": image}}


def request_of(operation: str, described: dict[str, Any]) -> dict[str, Any]:
    """The ``operation`` request a described job was made from, as far as its answer tells:
    the answer's members that are the request's too (what SageMaker filled in is kept:
    ``diff`` shows it)."""
    from runner.shapes.training_jobs import input_members

    members = input_members(operation)
    return dict(epoch_seconds({k: v for k, v in described.items() if k in members}))
