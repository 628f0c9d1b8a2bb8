"""The store's ports: what training, tuning and the service may ask of a job store.

``runner.store.jobs.Store`` (training jobs, their logs and metrics) and
``runner.store.tuning.TuningStore`` (tuning jobs and their trials) are the SQLite
implementations; ``tests/unit/store/test_conformance.py`` checks these rules against them.

Rules every implementation keeps (as Optuna's ``BaseStorage`` states its own):

- **Thread-safe.** One store object serves every thread of a process (the trials of a tuning
  job, a job's log pumps); each call is atomic. Several processes may open the same store
  (``describe`` or ``stop`` beside a running job): what one commits, the others read.
- **Snapshots.** Records, requests and rows come back as copies: changing them changes
  nothing stored, and a later write never changes a copy already returned.
- **Ended jobs never change.** Once a job's record is saved with a terminal status
  (Completed, Failed, Stopped), saving that job again raises ``JobEnded``; its metrics and
  logs may still be appended until its process is done with them, never rewritten.
- **Nothing lost, nothing twice.** A name is created once (``JobExists`` /
  ``TuningJobExists`` for a second time); a trial row is written before its training job is
  created, so a process killed at any moment leaves a state that ``resume`` replays.
- **Order kept.** Metrics and log lines come back in the order they were added.
- **A full disk is told, not hidden.** A write the store's disk has no room for raises
  ``StoreFull`` (its transaction rolled back: nothing half-written); reads go on working.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

TERMINAL = ("Completed", "Failed", "Stopped")


class JobEnded(Exception):
    """A write to the record of a job that already ended (a bug of the caller's)."""

    def __init__(self, name: str, status: str) -> None:
        self.name = name
        super().__init__(f"job {name} already ended as {status}; its record never changes again")


class StoreFull(OSError):
    """The disk under the store's folder is full: a write did not happen."""

    def __init__(self, home: Path, nearly: bool = False) -> None:
        self.home = home
        super().__init__(f"the store's disk is {'nearly ' if nearly else ''}full ({home}): "
                         "free space there")


class JobStore(Protocol):
    """Training jobs: records (DescribeTrainingJob's fields), requests, stops, metrics, logs."""

    home: Path

    def create_training_job(self, record: dict[str, Any], request: dict[str, Any],
                            local: dict[str, Any], tuning_job: str | None = None) -> None: ...

    def has_training_job(self, name: str) -> bool: ...

    def save_record(self, record: dict[str, Any]) -> None: ...

    def record(self, name: str) -> dict[str, Any]: ...

    def request(self, name: str) -> tuple[dict[str, Any], dict[str, Any]]: ...

    def list_training_jobs(self, tuning_job: str | None = None) -> list[dict[str, Any]]: ...

    def request_stop(self, name: str, now: float) -> None: ...

    def stop_requested(self, name: str) -> bool: ...

    def add_metrics(self, job: str, samples: Iterable[tuple[str, float, float]]) -> None: ...

    def metric_series(self, job: str) -> dict[str, list[tuple[float, float]]]: ...

    def add_logs(self, job: str, lines: Iterable[tuple[str, str, float, str]]) -> None: ...
