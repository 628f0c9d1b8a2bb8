"""Tuning jobs and their trials in the store (the same SQLite database as training jobs),
keeping the rules of ``runner.store.base``.

A trial row is written *before* its training job is created and its container started, and
names the training job it will run; so a runner killed at any moment leaves either a trial
with no job yet (start it), or a job the training-job records know about (reattach or
account for it). Nothing is lost and nothing runs twice.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.store.base import TERMINAL, JobEnded
from runner.store.jobs import JobNotFound, Store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tuning_jobs (
    name TEXT PRIMARY KEY,
    created REAL NOT NULL,
    status TEXT NOT NULL,
    record TEXT NOT NULL,
    request TEXT NOT NULL,
    local TEXT NOT NULL,
    stop_requested REAL
);
CREATE TABLE IF NOT EXISTS trials (
    tuning_job TEXT NOT NULL,
    number INTEGER NOT NULL,
    definition TEXT NOT NULL,
    config TEXT NOT NULL,
    job_name TEXT NOT NULL,
    attempts TEXT NOT NULL,
    PRIMARY KEY (tuning_job, number)
);
"""


class TuningJobExists(Exception):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Hyperparameter tuning job {name} already exists")


@dataclass(frozen=True)
class TrialRow:
    number: int
    definition: str
    config: dict[str, Any]
    job_name: str  # the current attempt's training job
    attempts: tuple[str, ...]  # every attempt's training job, oldest first


class TuningStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        store.executescript(_SCHEMA)

    def create(
        self, record: dict[str, Any], request: dict[str, Any], local: dict[str, Any]
    ) -> None:
        name = record["HyperParameterTuningJobName"]
        try:
            self.store.execute(
                "INSERT INTO tuning_jobs(name, created, status, record, request, local)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (name, record["CreationTime"], record["HyperParameterTuningJobStatus"],
                 json.dumps(record), json.dumps(request), json.dumps(local)),
            )
        except sqlite3.IntegrityError:  # one insert decides, whichever process tries too
            raise TuningJobExists(name) from None

    def exists(self, name: str) -> bool:
        return bool(self.store.query("SELECT 1 FROM tuning_jobs WHERE name = ?", (name,)))

    def save(self, record: dict[str, Any]) -> None:
        """Write the job's record; ``JobEnded`` once a terminal status was saved."""
        name = record["HyperParameterTuningJobName"]
        ended = ", ".join(f"'{status}'" for status in TERMINAL)
        changed = self.store.execute(
            "UPDATE tuning_jobs SET record = ?, status = ? WHERE name = ? AND status NOT "
            f"IN ({ended})",
            (json.dumps(record), record["HyperParameterTuningJobStatus"], name),
        )
        if changed == 0:  # ended already, or unknown (JobNotFound)
            raise JobEnded(name,
                           self._one("SELECT status FROM tuning_jobs WHERE name = ?", name)[0])

    def record(self, name: str) -> dict[str, Any]:
        return dict(json.loads(self._one("SELECT record FROM tuning_jobs WHERE name = ?", name)[0]))

    def request(self, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        row = self._one("SELECT request, local FROM tuning_jobs WHERE name = ?", name)
        return json.loads(row[0]), json.loads(row[1])

    def list_jobs(self) -> list[dict[str, Any]]:
        return [json.loads(r[0])
                for r in self.store.query("SELECT record FROM tuning_jobs ORDER BY created")]

    def request_stop(self, name: str, now: float) -> None:
        self._one("SELECT name FROM tuning_jobs WHERE name = ?", name)
        self.store.execute(
            "UPDATE tuning_jobs SET stop_requested = COALESCE(stop_requested, ?) WHERE name = ?",
            (now, name)
        )

    def stop_requested(self, name: str) -> bool:
        return self._one("SELECT stop_requested FROM tuning_jobs "
                         "WHERE name = ?", name)[0] is not None

    # -- trials ------------------------------------------------------------------------------
    def add_trial(
        self, tuning_job: str, number: int, definition: str, config: dict[str, Any], job_name: str
    ) -> None:
        self.store.execute(
            "INSERT INTO trials(tuning_job, number, definition, config, job_name, attempts) VALUES "
            "(?, ?, ?, ?, ?, ?)",
            (tuning_job, number, definition, json.dumps(config), job_name, json.dumps([job_name])),
        )

    def retry_trial(self, tuning_job: str, number: int, job_name: str) -> None:
        """Point the trial at a new attempt's training job."""
        row = self._trial(tuning_job, number)
        attempts = [*row.attempts, job_name]
        self.store.execute(
            "UPDATE trials SET job_name = ?, attempts = ? WHERE tuning_job = ? AND number = ?",
            (job_name, json.dumps(attempts), tuning_job, number),
        )

    def trials(self, tuning_job: str) -> list[TrialRow]:
        rows = self.store.query(
            "SELECT number, definition, config, job_name, attempts FROM trials WHERE tuning_job = "
            "? ORDER BY number",
            (tuning_job,),
        )
        return [TrialRow(r[0], r[1], json.loads(r[2]), r[3], tuple(json.loads(r[4]))) for r in rows]

    def _trial(self, tuning_job: str, number: int) -> TrialRow:
        for row in self.trials(tuning_job):
            if row.number == number:
                return row
        raise JobNotFound(f"{tuning_job} trial {number}")

    def _one(self, sql: str, name: str) -> tuple[Any, ...]:
        rows = self.store.query(sql, (name,))
        if not rows:
            raise JobNotFound(name)
        return rows[0]


def stored_tuning_job_exists(home: Path, name: str) -> bool:
    """Whether the store under ``home`` holds a tuning job ``name``, read without writing
    anything: no folder, database or table is created, as opening a ``Store`` would, and no
    file is left beside the database (a read-only connection to a WAL database leaves its
    -wal and -shm files behind unless the database is opened as immutable, which is right
    while no process writes it: no -wal file). A store that is not there holds no job."""
    db = home / "smlocal.db"  # (as Store names it)
    if not db.is_file():
        return False
    mode = "mode=ro" if Path(f"{db}-wal").exists() else "immutable=1"
    try:
        uri = f"{db.resolve().as_uri()}?{mode}"
        with closing(sqlite3.connect(uri, uri=True, timeout=30.0)) as conn:
            row = conn.execute("SELECT 1 FROM tuning_jobs WHERE name = ?", (name,)).fetchone()
    except sqlite3.Error:  # not a store, or one without tuning jobs
        return False
    return row is not None
