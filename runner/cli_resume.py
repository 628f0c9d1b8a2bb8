"""Jobs whose runner is gone (killed, crashed, its terminal closed): ``smlocal train --resume``
carries on with a training job, and ``smlocal stop`` stops a job itself when no process runs
it any more, as the service stops a job whatever became of the client that started it.

A runner holds its job's lease (runner.lease) while it lives; whoever gets the lease of a job
that has not ended takes the job over."""

from __future__ import annotations

import sys
from typing import Any

from runner import lease
from runner.problems import Problem, SpecError
from runner.specs import stored_spec

TRAINING, TUNING = "training", "tuning"


def hold(store: Any, kind: str, name: str) -> lease.Lease:
    """The lease of a job this process is about to run; SpecError when another process runs it."""
    held = lease.try_acquire(store.home, kind, name, wait=1.0)
    if held is None:
        what = "training job" if kind == TRAINING else "tuning job"
        raise SpecError([Problem(name, f"the {what} is being run by another smlocal process (see {lease.lease_path(store.home, kind, name)})")])
    return held


def resume_training(store: Any, backend: Any, name: str, aws: Any, echo: Any = None, held: lease.Lease | None = None) -> dict[str, Any]:
    """Carry on with a training job of its own (not a tuning job's trial) whose runner is gone:
    reattach to its containers, or finish it when they are gone."""
    from runner.training import RunContext, TrainingRun

    record = store.record(name)  # JobNotFound when unknown
    if record.get("TuningJobArn"):
        tuning = record["TuningJobArn"].rsplit("/", 1)[-1]
        raise SpecError([Problem(name, f"is a training job of tuning job {tuning}: resume that one (smlocal tune --resume {tuning})")])
    held = held or hold(store, TRAINING, name)
    try:
        run = TrainingRun(stored_spec(*store.request(name)), RunContext(store=store, backend=backend, echo=echo, aws=aws))
        return run.resume()
    finally:
        held.release()


def stop_training(store: Any, backend: Any, name: str, aws: Any) -> dict[str, Any] | None:
    """After a stop request: stop the job here when no process runs it (returns its final
    record), else leave it to its runner (None)."""
    record = store.record(name)
    if record.get("TuningJobArn"):  # its tuning job's runner stops it, now or at `tune --resume`
        tuning = record["TuningJobArn"].rsplit("/", 1)[-1]
        gone = lease.try_acquire(store.home, TUNING, tuning)
        if gone is not None:
            gone.release()
            print(f"smlocal: no smlocal process runs tuning job {tuning}: the stop takes effect at "
                  f"`smlocal tune --resume {tuning}` (or stop the tuning job)", file=sys.stderr)
        return None
    held = lease.try_acquire(store.home, TRAINING, name)
    if held is None:
        return None
    print(f"smlocal: no smlocal process runs {name} any more: stopping it from here", file=sys.stderr)
    return resume_training(store, backend, name, aws, held=held)


def tuning_runner_gone(store: Any, name: str) -> lease.Lease | None:
    """The tuning job's lease when no process runs it (the caller takes the job over)."""
    return lease.try_acquire(store.home, TUNING, name)
