"""Training jobs: CreateTrainingJob, DescribeTrainingJob, ListTrainingJobs, StopTrainingJob,
and what only a local service has (resuming a job whose process died).

The service never prints: what a front end may want to tell its user goes to ``notify``, and
every refusal is one of ``runner.api.errors``. Records are returned in AWS's response shapes.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

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
from runner.shapes.status import is_terminal
from runner.shapes.training_jobs import (
    cloud_place,
    describe_training_job,
    training_job_summary,
)
from runner.store import lease
from runner.store.jobs import JobNotFound, Store
from runner.store.tags import TagStore
from runner.training.admission import MachineCapacity
from runner.training.context import Echo, RunContext
from runner.training.logpump import MetricListener
from runner.training.run import TrainingRun

Notify = Callable[[str], None]


@contextmanager
def _found(name: str) -> Iterator[None]:
    try:
        yield
    except JobNotFound as exc:
        raise ResourceNotFound(str(exc)) from None


def first_free(name: str, taken: Callable[[str], bool]) -> str:
    """``name``, or the first of ``name-2``, ``name-3`` ... that is not ``taken``."""
    found, n = name, 1
    while taken(found):
        n += 1
        found = f"{name}-{n}"
    return found


def _not_in_the_cloud(record: dict[str, Any]) -> None:
    """ValidationException for a job that runs on SageMaker: this engine has no part in it."""
    if cloud_place(record) is not None:
        raise ValidationException([Problem(record["TrainingJobName"], (
            "runs on SageMaker: `smlocal stop` and `smlocal train --resume` reach it there "
            "(this service runs local jobs only)"))])


@dataclass
class TrainingJobs:
    """The training-job use cases over one store, one engine and the AWS clients."""

    store: Store
    backend: Backend
    aws: AwsClients
    notify: Notify = lambda message: None
    admission: MachineCapacity | None = None  # the machine's queue (the server's); None: none
    background: bool = False  # a stop that finishes a job does it on a thread (the server's)

    def __post_init__(self) -> None:
        self.tags = TagStore(self.store)

    # -- CreateTrainingJob -------------------------------------------------------------------
    def create_training_job(self, spec: Spec, echo: Echo | None = None,
                            on_metric: MetricListener | None = None) -> TrainingRun:
        """Check the request (ValidationException, with field paths), refuse a name in use
        (ResourceInUse), build the image of ``Local.Build``; the returned run is not yet
        recorded: :meth:`run` records and runs it."""
        from runner.api import validation

        spec = replace(spec, request=builtin.complete(spec.request))
        problems = validation.validate_training(
            spec, image_check=self.backend.image_exists,
            cache_dir=self.store.home / "cache" / "validation")
        if problems:
            raise ValidationException(problems)
        name = spec.request["TrainingJobName"]
        if self.store.has_training_job(name):
            raise ResourceInUse(f"Training job {name} already exists")
        for note in ignored_settings(spec.request):
            self.notify(f"training job {name}: {note}")
        build_images(self.backend, spec.local.build, request_images(spec.request), self.notify)
        return TrainingRun(spec, RunContext(store=self.store, backend=self.backend,
                                            admission=self.admission, echo=echo, aws=self.aws,
                                            on_metric=on_metric))

    def free_name(self, name: str) -> str:
        """``name``, or ``name-2``, ``name-3`` ... when the store has a job of that name."""
        return first_free(name, self.store.has_training_job)

    def start(self, job: TrainingRun) -> dict[str, Any]:
        """Record a created job and run it on a thread of its own (holding its lease); the
        record as created."""
        return start_in_background(self.store.home, lease.TRAINING, job.name,
                                   lambda: self._create(job), job.run)

    def run(self, job: TrainingRun) -> dict[str, Any]:
        """Record a created job and run it to its end, holding its lease; its final record."""
        with hold(self.store.home, lease.TRAINING, job.name):
            self._create(job)
            return job.run()

    def run_until(self, job: TrainingRun, stop_when: Callable[[], bool]) -> float | None:
        """Record and run a created job on a thread, asking ``stop_when()`` every 0.1 s until
        it says to stop it (then StopTrainingJob) or the job ends; when the stop was asked
        (None: never). Ctrl-C stops the job too, and waits for its end, before it goes on."""
        runner = threading.Thread(target=self.run, args=(job,), name=f"run-{job.name}",
                                  daemon=True)
        runner.start()
        asked: float | None = None
        try:
            while runner.is_alive():
                if asked is None and stop_when():
                    asked = time.time()
                    self._stop_if_running(job.name)
                runner.join(0.1)
        except KeyboardInterrupt:
            self._stop_if_running(job.name)
            runner.join()
            raise
        return asked

    def _stop_if_running(self, name: str) -> None:
        with contextlib.suppress(ResourceNotFound, ValidationException):  # not yet, or ended
            self.stop_training_job(TrainingJobName=name)

    def _create(self, job: TrainingRun) -> dict[str, Any]:
        """Record the job, and the Tags of its request."""
        record = job.create()
        self.tags.add(record["TrainingJobArn"], job.request.get("Tags") or [])
        return record

    # -- DescribeTrainingJob, ListTrainingJobs -----------------------------------------------
    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:  # noqa: N803 - AWS's name
        with _found(TrainingJobName):
            return describe_training_job(self.store.record(TrainingJobName))

    def list_training_jobs(
        self, MaxResults: int | None = None, NextToken: str | None = None,  # noqa: N803 - AWS's names
        SortBy: str | None = None, SortOrder: str | None = None, **filters: Any,  # noqa: N803
    ) -> dict[str, Any]:
        """``TrainingJobSummaries``, newest first unless told, filtered and paged as AWS lists
        them (``MaxResults`` None: all of them)."""
        records = listing.matching(self.store.list_training_jobs(), "TrainingJobName", filters)
        entries, token = listing.page(listing.ordered(records, SortBy, SortOrder), MaxResults,
                                      NextToken)
        out: dict[str, Any] = {"TrainingJobSummaries": [training_job_summary(r) for r in entries]}
        if token is not None:
            out["NextToken"] = token
        return out

    # -- StopTrainingJob and resuming ----------------------------------------------------------
    def stop_training_job(self, TrainingJobName: str) -> dict[str, Any] | None:  # noqa: N803
        """Ask the job to stop; when no process runs it any more, stop it from here and return
        its final record (None: its runner stops it)."""
        name = TrainingJobName
        with _found(name):
            record = self.store.record(name)
        _not_in_the_cloud(record)
        if is_terminal(record):
            raise ValidationException([Problem(name, (
                f"the training job already ended as {record['TrainingJobStatus']}; "
                "nothing to stop"))])
        self.store.request_stop(name, time.time())
        self.notify(f"stop requested for {name}")
        if record.get("TuningJobArn"):  # its tuning job's runner stops it, now or at its resume
            tuning = record["TuningJobArn"].rsplit("/", 1)[-1]
            gone = lease.try_acquire(self.store.home, lease.TUNING, tuning)
            if gone is not None:
                gone.release()
                self.notify(f"no smlocal process runs tuning job {tuning}: the stop takes effect "
                            f"at `smlocal tune --resume {tuning}` (or stop the tuning job)")
            return None
        held = lease.try_acquire(self.store.home, lease.TRAINING, name)
        if held is None:
            return None
        self.notify(f"no smlocal process runs {name} any more: stopping it from here")
        if self.background:
            run_held(held, lease.TRAINING, name, functools.partial(self._resume, name, None, held))
            return None
        return self._resume(name, None, held)

    def resume_training_job(self, TrainingJobName: str, echo: Echo | None = None) -> dict[str, Any]:  # noqa: N803
        """Carry on with a job (not a tuning job's trial) whose process is gone: reattach to
        its containers, or finish it when they are gone."""
        name = TrainingJobName
        with _found(name):
            record = self.store.record(name)
        _not_in_the_cloud(record)
        if record.get("TuningJobArn"):
            tuning = record["TuningJobArn"].rsplit("/", 1)[-1]
            raise ValidationException([Problem(name, (
                f"is a training job of tuning job {tuning}: resume that one (smlocal tune "
                f"--resume {tuning})"))])
        return self._resume(name, echo, hold(self.store.home, lease.TRAINING, name))

    def resume_held(self, name: str, held: lease.Lease) -> dict[str, Any]:
        """Carry on with a job whose lease the caller took (``held``, let go at the end)."""
        return self._resume(name, None, held)

    def _resume(self, name: str, echo: Echo | None, held: lease.Lease) -> dict[str, Any]:
        try:
            spec = stored_spec(*self.store.request(name))
            run = TrainingRun(spec, RunContext(store=self.store, backend=self.backend,
                                               admission=self.admission, echo=echo, aws=self.aws))
            return run.resume()
        finally:
            held.release()
