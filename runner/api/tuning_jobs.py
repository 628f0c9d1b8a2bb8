"""Tuning jobs: CreateHyperParameterTuningJob, DescribeHyperParameterTuningJob,
ListTrainingJobsForHyperParameterTuningJob, StopHyperParameterTuningJob, and resuming a
tuning job whose process died.

As ``training_jobs``: nothing is printed (notices go to ``notify``; a running job's events to
the ``listener`` a front end passes), and refusals are ``runner.api.errors``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from runner.api import builtin, listing
from runner.api.background import run_held, start_in_background
from runner.api.errors import ResourceInUse, ResourceNotFound, ValidationException
from runner.api.ignored import ignored_settings
from runner.api.images import build_images, request_images
from runner.api.leases import hold
from runner.aws.clients import AwsClients
from runner.core.problems import Problem
from runner.core.specs import Spec, stored_spec
from runner.engines.base import Backend
from runner.shapes.training_jobs import cloud_place, output_members, to_timestamps
from runner.store import lease
from runner.store.jobs import Store
from runner.store.tags import TagStore
from runner.store.tuning import TuningStore
from runner.training.admission import MachineCapacity
from runner.training.context import RunContext
from runner.tuning.tuner import Listener, Tuner

if TYPE_CHECKING:
    from runner.api.cloud_jobs import CloudJobs

Notify = Callable[[str], None]
ENDED = ("Completed", "Failed", "Stopped")


@dataclass
class TuningJobs:
    """The tuning-job use cases over one store, one engine and the AWS clients."""

    store: Store
    backend: Backend
    aws: AwsClients | None = None
    notify: Notify = lambda message: None
    admission: MachineCapacity | None = None  # the machine's queue (the server's); None: none
    background: bool = False  # a stop that finishes a job does it on a thread (the server's)
    cloud_jobs: Callable[[], CloudJobs] | None = None  # for trials on SageMaker

    def __post_init__(self) -> None:
        self.tstore = TuningStore(self.store)
        self.tags = TagStore(self.store)

    def exists(self, name: str) -> bool:
        return self.tstore.exists(name)

    # -- CreateHyperParameterTuningJob -------------------------------------------------------
    def create_hyper_parameter_tuning_job(self, spec: Spec, listener: Listener) -> Tuner:
        """Check the request (ValidationException), refuse a name in use (ResourceInUse),
        build the images of ``Local.Build``; :meth:`run` records and runs the returned tuner."""
        from runner.api.tuning_validation import validate_tuning

        spec = replace(spec, request=builtin.complete(spec.request))
        in_cloud = spec.local.trials_on == "sagemaker"
        problems = validate_tuning(
            spec, for_cloud=in_cloud, image_check=None if in_cloud else self.backend.image_exists,
            parent_exists=self.tstore.exists, cache_dir=self.store.home / "cache" / "validation")
        if in_cloud:
            from runner.api.cloud_trials import cloud_trial_problems

            problems = sorted(set(problems + cloud_trial_problems(spec)))
        if problems:
            raise ValidationException(problems)
        name = spec.request["HyperParameterTuningJobName"]
        if self.tstore.exists(name):
            raise ResourceInUse(f"Hyperparameter tuning job {name} already exists")
        for note in ignored_settings(spec.request):
            self.notify(f"tuning job {name}: {note}")
        build_images(self.backend, spec.local.build, request_images(spec.request), self.notify)
        return self._tuner(spec, listener)

    def start(self, tuner: Tuner) -> dict[str, Any]:
        """Record a tuning job and run it on a thread of its own (holding its lease); the
        record as created."""
        return start_in_background(self.store.home, lease.TUNING, tuner.name,
                                   lambda: self._create(tuner), tuner.run)

    def _create(self, tuner: Tuner) -> dict[str, Any]:
        """Record the tuning job, and the Tags of its request."""
        record = tuner.create()
        self.tags.add(record["HyperParameterTuningJobArn"], tuner.request.get("Tags") or [])
        return record

    def run(self, tuner: Tuner, resume: bool = False) -> dict[str, Any]:
        """Record (unless resumed) and run a tuning job to its end, holding its lease."""
        with hold(self.store.home, lease.TUNING, tuner.name):
            if not resume:
                self._create(tuner)
            return tuner.run()

    def stored_spec(self, HyperParameterTuningJobName: str) -> Spec:  # noqa: N803 - AWS's name
        """The request and local options a tuning job was created with."""
        return self._stored(HyperParameterTuningJobName)

    def resume_hyper_parameter_tuning_job(self, spec: Spec, listener: Listener) -> Tuner:
        """The tuner of a tuning job whose process is gone (``spec``: its stored one, local
        options changed as the caller wants); :meth:`run` with ``resume=True`` carries it on."""
        name = spec.request["HyperParameterTuningJobName"]
        if cloud_place(self._record(name)) is not None:  # (ResourceNotFound when unknown)
            raise ValidationException([Problem(name, (
                "runs on SageMaker: `smlocal tune --resume` follows it there"))])
        return self._tuner(spec, listener)

    # -- Describe, ListTrainingJobsFor... -------------------------------------------------------
    def describe_hyper_parameter_tuning_job(
        self, HyperParameterTuningJobName: str,  # noqa: N803 - AWS's name
    ) -> dict[str, Any]:
        from runner.tuning.describe import describe_tuning_job
        from runner.tuning.records import trial_views

        name = HyperParameterTuningJobName
        record = self._record(name)
        if cloud_place(record) is not None:  # SageMaker's own answer, as it gave it
            members = output_members("DescribeHyperParameterTuningJob")
            return dict(to_timestamps({k: v for k, v in record.items() if k in members}))
        return describe_tuning_job(record, trial_views(self.store, self.tstore, name), time.time())

    def list_hyper_parameter_tuning_jobs(
        self, MaxResults: int | None = None, NextToken: str | None = None,  # noqa: N803 - AWS's names
        SortBy: str | None = None, SortOrder: str | None = None, **filters: Any,  # noqa: N803
    ) -> dict[str, Any]:
        """``HyperParameterTuningJobSummaries``, newest first unless told, filtered and paged."""
        records = listing.matching(self.tstore.list_jobs(), "HyperParameterTuningJobName", filters)
        entries, token = listing.page(listing.ordered(records, SortBy, SortOrder), MaxResults,
                                      NextToken)
        summaries = []
        for record in entries:
            described = self.describe_hyper_parameter_tuning_job(
                record["HyperParameterTuningJobName"])
            config = described.get("HyperParameterTuningJobConfig") or {}
            summaries.append({**described, "Strategy": config.get("Strategy"),
                              "ResourceLimits": config.get("ResourceLimits")})
        out: dict[str, Any] = {"HyperParameterTuningJobSummaries": summaries}
        if token is not None:
            out["NextToken"] = token
        return out

    def list_training_jobs_for_hyper_parameter_tuning_job(
        self, HyperParameterTuningJobName: str, StatusEquals: str | None = None,  # noqa: N803
        SortBy: str = "Name", SortOrder: str | None = None,  # noqa: N803
        MaxResults: int | None = None, NextToken: str | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        """The trials, as the API lists them (a Maximize objective sorts descending by default)."""
        from runner.tuning.describe import list_trials
        from runner.tuning.records import trial_views

        name = HyperParameterTuningJobName
        if not self.tstore.exists(name):
            if self.store.has_training_job(name):
                raise ValidationException([Problem(name, (
                    "is a training job; `smlocal trials` lists the training jobs of "
                    "a tuning job"))])
            raise ResourceNotFound(f"Could not find job {name}")
        request, _ = self.tstore.request(name)
        objective = (
            request["HyperParameterTuningJobConfig"].get("HyperParameterTuningJobObjective") or {})
        maximize = objective.get("Type") == "Maximize" and SortBy == "FinalObjectiveMetricValue"
        order = SortOrder or ("Descending" if maximize else "Ascending")
        listed = list_trials(trial_views(self.store, self.tstore, name), name,
                             status_equals=StatusEquals, sort_by=SortBy, sort_order=order)
        entries, token = listing.page(listed["TrainingJobSummaries"], MaxResults, NextToken)
        out: dict[str, Any] = {**listed, "TrainingJobSummaries": entries}
        if token is not None:
            out["NextToken"] = token
        return out

    # -- StopHyperParameterTuningJob ---------------------------------------------------------
    def stop_hyper_parameter_tuning_job(
        self, HyperParameterTuningJobName: str, listener: Listener,  # noqa: N803 - AWS's name
    ) -> None:
        """Ask the job and its trials to stop; when no process runs it any more, stop its
        trials and end it from here."""
        name = HyperParameterTuningJobName
        record = self._record(name)
        if cloud_place(record) is not None:
            raise ValidationException([Problem(name, (
                "runs on SageMaker: `smlocal stop` and `smlocal tune --resume` reach it there "
                "(this service runs local jobs only)"))])
        if record["HyperParameterTuningJobStatus"] in ENDED:
            raise ValidationException([Problem(name, (
                f"the tuning job already ended as {record['HyperParameterTuningJobStatus']}; "
                "nothing to stop"))])
        self.tstore.request_stop(name, time.time())
        self.notify(f"stop requested for tuning job {name} and its training jobs")
        held = lease.try_acquire(self.store.home, lease.TUNING, name)
        if held is not None:  # its runner is gone: stop its trials and end it from here
            self.notify(f"no smlocal process runs {name} any more: stopping it from here")
            if self.background:
                run_held(held, lease.TUNING, name,
                         lambda: self._tuner(self._stored(name), listener).run())
                return
            with held:
                self._tuner(self._stored(name), listener).run()

    # -- helpers -----------------------------------------------------------------------------
    def _tuner(self, spec: Spec, listener: Listener) -> Tuner:
        from runner.api.local_trials import local_tuner

        if spec.local.trials_on == "sagemaker" and self.cloud_jobs is not None:
            from runner.api.cloud_trials import cloud_tuner

            return cloud_tuner(spec, self.cloud_jobs(), listener)
        return local_tuner(spec, RunContext(store=self.store, backend=self.backend,
                                            admission=self.admission, aws=self.aws),
                           listener)

    def _record(self, name: str) -> dict[str, Any]:
        if not self.tstore.exists(name):
            raise ResourceNotFound(f"Could not find job {name}")
        return self.tstore.record(name)

    def _stored(self, name: str) -> Spec:
        if not self.tstore.exists(name):
            raise ResourceNotFound(f"Could not find job {name}")
        return stored_spec(*self.tstore.request(name))
