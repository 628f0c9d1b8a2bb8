"""The job store: an embedded SQLite database under ``.smlocal/`` (or ``$SMLOCAL_HOME``),
keeping the rules of ``runner.store.base``.

Written as a job progresses, so other processes (``describe``, ``list``, ``logs --follow``,
``stop``) read it while the job runs. WAL mode lets readers and the one writer overlap.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.store.base import TERMINAL, JobEnded, StoreFull

_ENDED = "(" + ", ".join(f"'{status}'" for status in TERMINAL) + ")"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS training_jobs (
    name TEXT PRIMARY KEY,
    created REAL NOT NULL,
    status TEXT NOT NULL,
    tuning_job TEXT,
    record TEXT NOT NULL,
    request TEXT NOT NULL,
    local TEXT NOT NULL,
    stop_requested REAL
);
CREATE INDEX IF NOT EXISTS training_jobs_tuning ON training_jobs(tuning_job);
CREATE TABLE IF NOT EXISTS metrics (
    job TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_job ON metrics(job, name);
CREATE TABLE IF NOT EXISTS logs (
    job TEXT NOT NULL,
    host TEXT NOT NULL,
    stream TEXT NOT NULL,
    ts REAL NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_job ON logs(job);
"""


class JobExists(Exception):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Training job {name} already exists")


class JobNotFound(Exception):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Could not find job {name}")


@dataclass(frozen=True)
class LogLine:
    seq: int
    host: str
    stream: str
    ts: float
    line: str


_BUSY_SECONDS = 30.0


def _while_busy(step: Callable[[], object]) -> None:
    """``step``, tried again while SQLite answers "database is locked", for as long as a busy
    connection waits. Turning a new database to WAL asks for a lock that SQLite's own busy
    wait does not cover: another process creating the same store at the same moment (a job
    starting while ``smlocal logs`` polls its new home) holds it and the switch fails at once.
    """
    deadline = time.monotonic() + _BUSY_SECONDS
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            code = getattr(exc, "sqlite_errorcode", 0) & 0xFF  # (BUSY_RECOVERY... too)
            if code != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def default_home() -> Path:
    return Path(os.environ.get("SMLOCAL_HOME") or Path.cwd() / ".smlocal")


class Store:
    """One SQLite connection, shared by the threads of one process behind a lock."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = (home or default_home()).resolve()
        self.home.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            self.home / "smlocal.db", timeout=_BUSY_SECONDS, check_same_thread=False,
            isolation_level=None,
        )
        _while_busy(lambda: self._db.execute("PRAGMA journal_mode=WAL"))
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The connection, to this thread alone; SQLite's "disk full" as StoreFull."""
        with self._lock:
            try:
                yield
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_FULL:
                    raise
                raise StoreFull(self.home) from None

    def free_bytes(self) -> int:
        """The free space on the store's disk."""
        return shutil.disk_usage(self.home).free

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        with self._locked():
            return int(self._db.execute(sql, params).rowcount)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._locked():
            return [tuple(row) for row in self._db.execute(sql, params).fetchall()]

    def executescript(self, sql: str) -> None:
        with self._locked():
            self._db.executescript(sql)

    def close(self) -> None:
        with self._locked():
            self._db.close()

    def jobs_dir(self, name: str) -> Path:
        return self.home / "jobs" / name

    # -- training jobs -------------------------------------------------------------------
    def create_training_job(
        self,
        record: dict[str, Any],
        request: dict[str, Any],
        local: dict[str, Any],
        tuning_job: str | None = None,
    ) -> None:
        name = record["TrainingJobName"]
        with self._locked():
            try:
                self._db.execute(
                    "INSERT INTO training_jobs(name, created, status, tuning_job, record, request, "
                    "local) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        record["CreationTime"],
                        record["TrainingJobStatus"],
                        tuning_job,
                        json.dumps(record),
                        json.dumps(request),
                        json.dumps(local),
                    ),
                )
            except sqlite3.IntegrityError:
                raise JobExists(name) from None

    def has_training_job(self, name: str) -> bool:
        with self._locked():
            row = self._db.execute("SELECT 1 FROM training_jobs WHERE name = ?", (name,)).fetchone()
        return row is not None

    def save_record(self, record: dict[str, Any]) -> None:
        """Write the job's record; ``JobEnded`` once a terminal status was saved."""
        name = record["TrainingJobName"]
        with self._locked():
            cursor = self._db.execute(
                "UPDATE training_jobs SET record = ?, status = ? WHERE name = ? AND status "
                f"NOT IN {_ENDED}",
                (json.dumps(record), record["TrainingJobStatus"], name),
            )
            if cursor.rowcount == 0:
                raise JobEnded(name, self._one("SELECT status FROM training_jobs WHERE name = ?",
                                               name)[0])

    def record(self, name: str) -> dict[str, Any]:
        row = self._one("SELECT record FROM training_jobs WHERE name = ?", name)
        return dict(json.loads(row[0]))

    def request(self, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        row = self._one("SELECT request, local FROM training_jobs WHERE name = ?", name)
        return json.loads(row[0]), json.loads(row[1])

    def list_training_jobs(self, tuning_job: str | None = None) -> list[dict[str, Any]]:
        with self._locked():
            if tuning_job is None:
                rows = self._db.execute("SELECT record FROM training_jobs "
                                        "ORDER BY created").fetchall()
            else:
                rows = self._db.execute(
                    "SELECT record FROM training_jobs WHERE tuning_job = ? ORDER BY created",
                    (tuning_job,),
                ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def request_stop(self, name: str, now: float) -> None:
        self._one("SELECT name FROM training_jobs WHERE name = ?", name)
        with self._locked():
            self._db.execute(
                "UPDATE training_jobs SET stop_requested = COALESCE(stop_requested, ?) "
                "WHERE name = ?",
                (now, name),
            )

    def stop_requested(self, name: str) -> bool:
        row = self._one("SELECT stop_requested FROM training_jobs WHERE name = ?", name)
        return row[0] is not None

    # -- metrics ---------------------------------------------------------------------------
    def add_metrics(self, job: str, samples: Iterable[tuple[str, float, float]]) -> None:
        """``samples``: (name, value, ts) tuples, written in one transaction."""
        self._insert_many(
            "INSERT INTO metrics(job, name, value, ts) VALUES (?, ?, ?, ?)",
            ((job, n, v, t) for n, v, t in samples),
        )

    def _insert_many(self, sql: str, rows: Iterable[tuple[Any, ...]]) -> None:
        with self._locked():
            self._db.execute("BEGIN")
            try:
                self._db.executemany(sql, rows)
            except BaseException:
                if self._db.in_transaction:  # (SQLite rolls back itself on a full disk)
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def last_metric_points(self, job: str) -> dict[str, list[tuple[float, float]]]:
        """The last stored (ts, value) of each metric of ``job``, in :meth:`metric_series`'s
        shape; reads one row a metric, however long the series."""
        with self._locked():
            rows = self._db.execute(
                "SELECT name, ts, value FROM metrics WHERE rowid IN "
                "(SELECT MAX(rowid) FROM metrics WHERE job = ? GROUP BY name)", (job,),
            ).fetchall()
        return {name: [(ts, value)] for name, ts, value in rows}

    def metric_series(self, job: str) -> dict[str, list[tuple[float, float]]]:
        with self._locked():
            rows = self._db.execute(
                "SELECT name, ts, value FROM metrics WHERE job = ? ORDER BY ts, rowid", (job,)
            ).fetchall()
        out: dict[str, list[tuple[float, float]]] = {}
        for name, ts, value in rows:
            out.setdefault(name, []).append((ts, value))
        return out

    def metric_points(self, job: str, name: str, since: float = float("-inf"),
                      until: float = float("inf")) -> list[tuple[float, float]]:
        """One metric's (ts, value) points with ``since <= ts < until``, in time order."""
        with self._locked():
            rows = self._db.execute(
                "SELECT ts, value FROM metrics WHERE job = ? AND name = ? AND ts >= ? AND ts < ?"
                " ORDER BY ts, rowid", (job, name, since, until),
            ).fetchall()
        return [(ts, value) for ts, value in rows]

    def metric_keys(self) -> list[tuple[str, str, float]]:
        """Every (job, metric name, time of its last point) stored, by job and name."""
        with self._locked():
            rows = self._db.execute(
                "SELECT job, name, MAX(ts) FROM metrics GROUP BY job, name ORDER BY job, name"
            ).fetchall()
        return [(job, name, last) for job, name, last in rows]

    # -- logs --------------------------------------------------------------------------------
    def add_logs(self, job: str, lines: Iterable[tuple[str, str, float, str]]) -> None:
        """``lines``: (host, stream, ts, text) tuples, written in one transaction."""
        self._insert_many(
            "INSERT INTO logs(job, host, stream, ts, line) VALUES (?, ?, ?, ?, ?)",
            ((job, h, s, t, text) for h, s, t, text in lines),
        )

    def logs(self, job: str, after: int = 0, limit: int = 5000) -> list[LogLine]:
        with self._locked():
            rows = self._db.execute(
                "SELECT rowid, host, stream, ts, line FROM logs WHERE job = ? AND rowid > ?"
                " ORDER BY rowid LIMIT ?",
                (job, after, limit),
            ).fetchall()
        return [LogLine(*row) for row in rows]

    def iter_logs(self, job: str) -> Iterator[LogLine]:
        after = 0
        while True:
            batch = self.logs(job, after)
            if not batch:
                return
            yield from batch
            after = batch[-1].seq

    def log_hosts(self, job: str) -> dict[str, tuple[float, float]]:
        """Each host that wrote lines: the times of its first and last."""
        with self._locked():
            rows = self._db.execute(
                "SELECT host, MIN(ts), MAX(ts) FROM logs WHERE job = ? GROUP BY host", (job,)
            ).fetchall()
        return {host: (first, last) for host, first, last in rows}

    def host_logs(self, job: str, host: str, after: tuple[float, int] | None = None,
                  since_ms: int | None = None, limit: int = 5000) -> list[LogLine]:
        """One host's non-empty lines in time order (ties: as stored): those after the line
        at ``after`` (its time and seq), from epoch millisecond ``since_ms`` on."""
        ts, seq = after if after is not None else (float("-inf"), 0)
        with self._locked():
            rows = self._db.execute(
                "SELECT rowid, host, stream, ts, line FROM logs WHERE job = ? AND host = ?"
                " AND line != '' AND (ts > ? OR (ts = ? AND rowid > ?))"
                " AND CAST(ts * 1000 AS INTEGER) >= ?"
                " ORDER BY ts, rowid LIMIT ?",
                (job, host, ts, ts, seq, since_ms if since_ms is not None else -(2**62), limit),
            ).fetchall()
        return [LogLine(*row) for row in rows]

    def host_line_counts(self, job: str) -> dict[str, int]:
        """How many lines of ``job`` are stored, by host."""
        with self._locked():
            rows = self._db.execute("SELECT host, COUNT(*) FROM logs WHERE job = ? GROUP BY host",
                                    (job,)).fetchall()
        return {str(host): int(count) for host, count in rows}

    def log_count(self, job: str) -> int:
        with self._locked():
            return int(
                self._db.execute("SELECT COUNT(*) FROM logs WHERE job = ?", (job,)).fetchone()[0])

    def last_log_time(self, job: str) -> float | None:
        with self._locked():
            row = self._db.execute("SELECT MAX(ts) FROM logs WHERE job = ?", (job,)).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def tail_logs(self, job: str, count: int) -> list[LogLine]:
        with self._locked():
            rows = self._db.execute(
                "SELECT rowid, host, stream, ts, line FROM logs WHERE job = ?"
                " ORDER BY rowid DESC LIMIT ?",
                (job, count),
            ).fetchall()
        return [LogLine(*row) for row in reversed(rows)]

    def _one(self, sql: str, name: str) -> tuple[Any, ...]:
        with self._locked():
            row = self._db.execute(sql, (name,)).fetchone()
        if row is None:
            raise JobNotFound(name)
        return tuple(row)
