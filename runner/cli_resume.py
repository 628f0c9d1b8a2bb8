"""Tuning jobs whose runner is gone (killed, crashed, its terminal closed): ``smlocal tune
--resume`` carries on, and ``smlocal stop`` stops a tuning job itself when no process runs it
any more, as the service stops a job whatever became of the client that started it (training
jobs: ``runner.api.training_jobs``).

A runner holds its job's lease (runner.lease) while it lives; whoever gets the lease of a job
that has not ended takes the job over."""

from __future__ import annotations

from typing import Any

from runner import lease
from runner.problems import Problem, SpecError

TRAINING, TUNING = lease.TRAINING, lease.TUNING


def hold(store: Any, kind: str, name: str) -> lease.Lease:
    """The lease of a job this process is about to run; SpecError when another process runs it."""
    held = lease.try_acquire(store.home, kind, name, wait=1.0)
    if held is None:
        what = "training job" if kind == TRAINING else "tuning job"
        raise SpecError([Problem(name, f"the {what} is being run by another smlocal process (see {lease.lease_path(store.home, kind, name)})")])
    return held


def tuning_runner_gone(store: Any, name: str) -> lease.Lease | None:
    """The tuning job's lease when no process runs it (the caller takes the job over)."""
    return lease.try_acquire(store.home, TUNING, name)
