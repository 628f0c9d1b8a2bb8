"""The service every front end calls: the CLI today, the HTTP server next, tests throughout.

One ``Service`` holds one store, one engine and the AWS clients, each built on first need
(``describe`` never needs a Docker engine, a job with ``file://`` paths never needs AWS), and
hands out the use cases: ``training_jobs`` and ``tuning_jobs`` (SageMaker's operations, in
its words), plus what only a local tool has: log lines, image builds, reports, validation.
It never prints: ``notify`` gets what a user may want to know; refusals are the errors of
``runner.api.errors``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.api import builtin
from runner.api.errors import ResourceNotFound, ValidationException
from runner.api.training_jobs import Notify, TrainingJobs
from runner.aws.clients import AwsClients, AwsConfig
from runner.core.problems import Problem
from runner.core.specs import Spec, is_tuning_request
from runner.engines.base import Backend, EngineUnavailable
from runner.shapes.status import is_terminal
from runner.shapes.training_jobs import cloud_place
from runner.store.jobs import JobNotFound, LogLine, Store, default_home
from runner.store.tags import TagStore
from runner.store.tuning import stored_tuning_job_exists
from runner.training.admission import MachineCapacity

if TYPE_CHECKING:  # (imported on first use: a training job's process needs no tuner)
    from runner.api.cloud_jobs import CloudJobs
    from runner.api.cloud_tuning import CloudTuning
    from runner.api.doctor import DoctorOptions
    from runner.api.doctor_clauses import Clause
    from runner.api.job_diff import JobDiff
    from runner.api.job_logs import JobLogs
    from runner.api.job_metrics import JobMetrics
    from runner.api.tuning_jobs import TuningJobs
    from runner.tuning.corners import CornerResult
    from runner.tuning.tuner import Listener


def _docker(home: Path) -> Backend:
    from runner.engines.docker.backend import DockerBackend

    return DockerBackend(home)


MAX_TAGS = 50  # per resource, as SageMaker allows


@dataclass(frozen=True)
class Validation:
    """What ``validate`` found: the problems (refusals), warnings (worth knowing), and why
    the image check was skipped (no engine answered), if it was."""

    problems: list[Problem]
    warnings: list[Problem]
    image_check_skipped: str | None
    limits: list[str] = field(default_factory=list)  # --for-cloud: quotas, instance-hours


class Service:
    def __init__(
        self, home: Path | None = None, endpoint_url: str | None = None,
        notify: Notify = lambda message: None, engine: Callable[[Path], Backend] = _docker,
    ) -> None:
        self.home = (home or default_home()).resolve()
        self.endpoint_url = endpoint_url
        self.notify = notify
        self._engine = engine
        self.admission: MachineCapacity | None = None
        self.background = False

    @functools.cached_property
    def store(self) -> Store:
        return Store(self.home)

    @functools.cached_property
    def backend(self) -> Backend:
        return self._engine(self.store.home)

    @functools.cached_property
    def aws(self) -> AwsClients:
        return AwsClients(AwsConfig(endpoint_url=self.endpoint_url))

    @functools.cached_property
    def training_jobs(self) -> TrainingJobs:
        return TrainingJobs(self.store, self.backend, self.aws, notify=self.notify,
                            admission=self.admission, background=self.background)

    @functools.cached_property
    def tuning_jobs(self) -> TuningJobs:
        from runner.api.tuning_jobs import TuningJobs

        return TuningJobs(self.store, self.backend, self.aws, notify=self.notify,
                          admission=self.admission, background=self.background,
                          cloud_jobs=lambda: self.cloud_jobs)

    @functools.cached_property
    def cloud_jobs(self) -> CloudJobs:
        """Training jobs on SageMaker itself, recorded in this store."""
        from runner.api.cloud_jobs import CloudJobs

        return CloudJobs(self.store, self.endpoint_url, notify=self.notify)

    @functools.cached_property
    def cloud_tuning(self) -> CloudTuning:
        """Tuning jobs on SageMaker itself, recorded in this store."""
        from runner.api.cloud_tuning import CloudTuning
        from runner.store.tuning import TuningStore

        return CloudTuning(self.cloud_jobs, TuningStore(self.store))

    @functools.cached_property
    def job_logs(self) -> JobLogs:
        """Training jobs' logs as CloudWatch Logs serves them."""
        from runner.api.job_logs import JobLogs

        return JobLogs(self.store)

    @functools.cached_property
    def job_metrics(self) -> JobMetrics:
        """Training jobs' metrics as CloudWatch serves them."""
        from runner.api.job_metrics import JobMetrics

        return JobMetrics(self.store)

    def as_server(self) -> None:
        """The server's ways, from now on (call it before the first job): jobs wait in
        Starting until the CPUs, memory and GPUs their instance types ask for are free on
        this machine (one queue for every job this service runs), and a stop that has to
        finish a job whose runner is gone does it on a thread (a request answers at once)."""
        from runner.core.clock import SystemClock
        from runner.training.admission import MachineCapacity, this_machine

        self.admission = MachineCapacity(this_machine(len(self.backend.gpu_ids() or [])),
                                         SystemClock())
        self.background = True

    # -- any job by name ---------------------------------------------------------------------
    def is_tuning_job(self, name: str) -> bool:
        return self.tuning_jobs.exists(name)

    def describe(self, name: str) -> dict[str, Any]:
        """DescribeHyperParameterTuningJob or DescribeTrainingJob, whichever ``name`` is."""
        if self.is_tuning_job(name):
            return self.tuning_jobs.describe_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=name)
        return self.training_jobs.describe_training_job(TrainingJobName=name)

    # -- tags (AddTags, ListTags, DeleteTags) ------------------------------------------------
    def add_tags(self, ResourceArn: str, Tags: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        """Add or replace tags; a resource has at most MAX_TAGS (ValidationException)."""
        tags = self._tags(ResourceArn)
        keys = {t["Key"] for t in tags.of(ResourceArn)} | {str(t["Key"]) for t in Tags}
        if len(keys) > MAX_TAGS:
            raise ValidationException([Problem("Tags", (
                f"{ResourceArn} would have {len(keys)} tags; a resource has at most {MAX_TAGS}"))])
        tags.add(ResourceArn, Tags)
        return {"Tags": Tags}

    def list_tags(self, ResourceArn: str, MaxResults: int | None = None,  # noqa: N803 - AWS's names
                  NextToken: str | None = None) -> dict[str, Any]:  # noqa: N803
        from runner.api import listing

        tags, token = listing.page(self._tags(ResourceArn).of(ResourceArn), MaxResults, NextToken)
        return {"Tags": tags, **({"NextToken": token} if token else {})}

    def delete_tags(self, ResourceArn: str, TagKeys: list[str]) -> dict[str, Any]:  # noqa: N803
        self._tags(ResourceArn).delete(ResourceArn, TagKeys)
        return {}

    def _tags(self, arn: str) -> TagStore:
        """The tag store, once ``arn`` names a job of the store (ResourceNotFound else)."""
        kind, _, name = arn.rpartition(":")[2].partition("/")
        if kind == "training-job" and self.store.has_training_job(name):
            found = self.store.record(name)["TrainingJobArn"] == arn
        elif kind == "hyper-parameter-tuning-job" and self.is_tuning_job(name):
            found = self.tuning_jobs.tstore.record(name)["HyperParameterTuningJobArn"] == arn
        else:
            found = False
        if not found:
            raise ResourceNotFound(f"Could not find resource {arn}")
        return self.training_jobs.tags

    # -- carrying on -----------------------------------------------------------------------
    def carry_on(self, listener: Callable[[str], Listener]) -> list[str]:
        """Carry on, each on a thread of its own, with every job left InProgress that no
        process runs any more (this server's own after a restart, or a command line's whose
        process died): training jobs reattach to their containers (or end as resume ends
        them), tuning jobs go on from their stored trials. ``listener(name)``: a tuning job's
        events. The names carried on."""
        from runner.api.background import orphans, run_held
        from runner.store import lease

        records = self.store.list_training_jobs()
        running = [r["TrainingJobName"] for r in records if not is_terminal(r)
                   and not r.get("TuningJobArn") and cloud_place(r) is None]
        carried = []
        for name, held in orphans(self.home, lease.TRAINING, running):
            run_held(held, lease.TRAINING, name,
                     functools.partial(self.training_jobs.resume_held, name, held))
            carried.append(name)
        tuning = [r["HyperParameterTuningJobName"] for r in self.tuning_jobs.tstore.list_jobs()
                  if r["HyperParameterTuningJobStatus"] not in ("Completed", "Failed", "Stopped")
                  and cloud_place(r) is None]
        for name, held in orphans(self.home, lease.TUNING, tuning):
            run_held(held, lease.TUNING, name,
                     functools.partial(self._carry_on_tuning, name, listener))
            carried.append(name)
        return carried

    def _carry_on_tuning(self, name: str, listener: Callable[[str], Listener]) -> None:
        jobs = self.tuning_jobs
        jobs.resume_hyper_parameter_tuning_job(jobs.stored_spec(name), listener(name)).run()

    # -- logs ----------------------------------------------------------------------------------
    def log_lines(self, name: str, after: int = 0) -> list[LogLine]:
        """A training job's stored log lines after line ``after`` (a batch, oldest first)."""
        try:
            self.store.record(name)
        except JobNotFound as exc:
            raise ResourceNotFound(str(exc)) from None
        return self.store.logs(name, after)

    def job_ended(self, name: str) -> bool:
        return is_terminal(self.training_jobs.describe_training_job(TrainingJobName=name))

    def cloudwatch_logs(
        self, name: str, out: Callable[[str], Any], err: Callable[[str], Any]
    ) -> bool:
        """A training job's log streams read back from CloudWatch Logs; False when it has none."""
        from runner.aws.cloudwatch import print_job_logs

        return print_job_logs(self.aws.logs(), name, out, err)

    # -- comparing two jobs ------------------------------------------------------------------
    def diff(self, a: str, b: str, metric_tolerance: float) -> JobDiff:
        """``smlocal diff``: two training jobs, or two tuning jobs, of the store side by side
        (ResourceNotFound for a name it lacks); artifacts read where the records say."""
        from runner.api.job_diff import artifact_chunks, diff_training_jobs
        from runner.api.tuning_diff import diff_stored_tuning_jobs

        kinds = [self._kind(name) for name in (a, b)]
        if kinds[0] != kinds[1]:
            raise ValidationException([Problem(b, (
                f"is a {kinds[1]} job and {a} a {kinds[0]} job: diff compares two of a kind"))])
        if kinds[0] == "training":
            return diff_training_jobs(self.store, a, b,
                                      functools.partial(artifact_chunks, self.aws),
                                      metric_tolerance)
        return diff_stored_tuning_jobs(self.tuning_jobs, a, b, metric_tolerance)

    def write_comparison(self, found: JobDiff, out: Path | None) -> list[Path]:
        """The comparison page of a diff (both jobs' curves on one plot per metric)."""
        from runner.report.compare import write_comparison

        rows = [(r.field, r.a, r.b, r.agrees) for r in found.rows]
        return write_comparison(self.store, found.a, found.b, rows, found.agree,
                                out or self.home / "reports" / f"{found.a}-vs-{found.b}")

    def _kind(self, name: str) -> str:
        if self.is_tuning_job(name):
            return "tuning"
        if self.store.has_training_job(name):
            return "training"
        raise ResourceNotFound(f"Could not find job {name}")

    # -- images, reports, validation -----------------------------------------------------------
    def build_image(self, context: Path, tag: str, dockerfile: str, build_args: dict[str, str],
                    on_log: Callable[[str], None]) -> bool:
        """Build ``tag`` from ``context``; False when nothing it depends on changed."""
        from runner.engines.docker.images import ensure_image

        return ensure_image(self.backend, context, tag, dockerfile=dockerfile,  # type: ignore[arg-type]
                            build_args=build_args, on_log=on_log)

    def build_request_images(self, spec: Spec) -> None:
        """The images ``spec``'s request runs, built from its ``Local.Build`` (nothing
        without one; each skipped when nothing it depends on changed)."""
        from runner.api.images import build_images, request_images

        build_images(self.backend, spec.local.build, request_images(spec.request), self.notify)

    def write_report(self, name: str, out: Path | None, fmt: str) -> list[Path]:
        """The report of a stored job (``ReportError`` when there is nothing to report)."""
        from runner.report.write import write_report

        return write_report(self.store, name, out or self.home / "reports" / name, fmt)

    def validate(self, spec: Spec, for_cloud: bool, check_image: bool,
                 quotas: bool = False) -> Validation:
        """Every check of a request, with no side effect: nothing is written (no store is
        made: warm-start parents are looked up read-only). With no engine to ask, the image
        check is skipped and ``image_check_skipped`` says why. ``for_cloud``: also the job's
        worst-case instance-hours, and with ``quotas`` the account's Service Quotas against
        the instances it takes at once (the only AWS call; what it could not check is said)."""
        from runner.api.ignored import ignored_settings
        from runner.api.tuning_validation import validate_tuning, warm_start_notes
        from runner.api.validation import validate_training
        from runner.contract.metrics import request_warnings

        spec = replace(spec, request=builtin.complete(spec.request))
        image_check = _ImageCheck(self._engine(Path("."))) if check_image else None
        notes = [*request_warnings(spec.request), *ignored_settings(spec.request)]
        if is_tuning_request(spec.request):
            parent_exists = functools.partial(stored_tuning_job_exists, self.home)
            problems = validate_tuning(spec, for_cloud=for_cloud, image_check=image_check,
                                       parent_exists=parent_exists)
            if for_cloud:
                notes += warm_start_notes(spec.request, parent_exists)
        else:
            problems = validate_training(spec, for_cloud=for_cloud, image_check=image_check)
        over, limits = self._cloud_limits(spec.request, quotas) if for_cloud else ([], [])
        return Validation(problems + over, notes,
                          image_check.skipped if image_check is not None else None, limits)

    def _cloud_limits(self, request: dict[str, Any],
                      quotas: bool) -> tuple[list[Problem], list[str]]:
        """Quotas the job would pass (problems) and what is worth knowing about its limits."""
        from runner.api import cloud_limits
        from runner.aws.clients import AwsError

        hours = cloud_limits.instance_hours(request)
        out = [hours] if hours else []
        if not quotas:
            return [], out + ["quotas not checked (--quotas reads the account's Service Quotas)"]
        from runner.aws.quotas import sagemaker_quotas

        try:
            found = sagemaker_quotas(self.aws)
        except AwsError as exc:
            return [], out + [f"quotas not checked: {exc}"]
        over, notes = cloud_limits.check(cloud_limits.needs(request), found)
        return over, out + notes

    def rehearse(self, spec: Spec, seconds: float) -> list[CornerResult]:
        """``tune --rehearse``: the tuning request checked as for ``tune``, then one short
        trial at each corner of its search space (jobs of their own, not the tuning job's)."""
        from runner.api.rehearsal import rehearse
        from runner.api.tuning_validation import validate_tuning

        spec = replace(spec, request=builtin.complete(spec.request))
        problems = validate_tuning(spec, for_cloud=False, image_check=self.backend.image_exists,
                                   parent_exists=self.tuning_jobs.tstore.exists,
                                   cache_dir=self.home / "cache" / "validation")
        if problems:
            raise ValidationException(problems)
        self.build_request_images(spec)
        return rehearse(self.training_jobs, spec, seconds, self.notify)

    def doctor(self, target: Spec | str, options: DoctorOptions) -> list[Clause]:
        """``smlocal doctor``: a training request (or an image, run with nothing more said)
        run under the contract a few times; a verdict for each clause."""
        from runner.api.doctor import Doctor, image_spec

        spec = target if isinstance(target, Spec) else image_spec(target, Path.cwd())
        if is_tuning_request(spec.request):
            raise ValidationException([Problem("HyperParameterTuningJobName", (
                "doctor examines a training job's image: give it a CreateTrainingJob request "
                "or an image"))])
        return Doctor(self.training_jobs, self.notify).examine(spec, options)


class _ImageCheck:
    """Whether the engine has an image; with no engine to ask, every image passes and
    ``skipped`` says why."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.skipped: str | None = None

    def __call__(self, image: str) -> bool:
        if self.skipped is not None:
            return True
        try:
            return bool(self.backend.image_exists(image))
        except EngineUnavailable as exc:
            self.skipped = str(exc)
            return True
