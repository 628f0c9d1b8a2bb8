"""Which process runs a job: the runner of a training or tuning job holds its lease (an
exclusive ``flock`` on a file in the store's folder) for as long as it lives. The kernel lets
go of it when the process ends in any way, SIGKILL included, so another process can tell a
job whose runner is gone (and take it over: ``smlocal stop`` finishing it, ``tune --resume``
carrying on) from one that is still being run, and no two processes ever run one job."""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from pathlib import Path

TRAINING, TUNING = "training", "tuning"  # the kinds of job a lease is for


class Lease:
    """A held lease; ``release()`` (or the process's end) lets go of it."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lease_path(home: Path, kind: str, name: str) -> Path:
    """The lease file of job ``name`` of ``kind`` ("training" or "tuning"); its name is a
    digest, so no job name can place it anywhere else."""
    digest = hashlib.sha256(f"{kind}\0{name}".encode()).hexdigest()[:32]
    return home / "leases" / f"{kind}-{digest}.lock"


def try_acquire(home: Path, kind: str, name: str, wait: float = 0.0) -> Lease | None:
    """The job's lease, or None when a live process still holds it after ``wait`` seconds."""
    path = lease_path(home, kind, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return None
                time.sleep(0.05)
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())  # for people looking; the flock is what counts
    return Lease(fd, path)
