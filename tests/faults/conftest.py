"""Fault injection: real containers, faults injected for real (the Docker engine stopped and
started again, never coming back in time). Run by `make test-faults` (and `make test`).

Stopping the engine stops every container on it, so these tests touch only an engine that
`containers/ensure-docker.sh` started itself (it notes its pid in /run/smlocal-dockerd.pid):
CI's and a fresh machine's; elsewhere they are skipped, saying why.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PID_FILE = Path("/run/smlocal-dockerd.pid")
ROOT = Path(__file__).resolve().parents[2]


class Engine:
    """The Docker engine that ensure-docker.sh started: stopped and started again."""

    def pid(self) -> int | None:
        try:
            pid = int(PID_FILE.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def stop(self, timeout: float = 60) -> None:
        pid = self.pid()
        assert pid is not None, "no engine of ensure-docker.sh runs"
        os.kill(pid, signal.SIGTERM)  # as `systemctl stop docker` does
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.2)
        raise AssertionError("dockerd did not stop")

    def start(self) -> None:
        subprocess.run(["bash", str(ROOT / "containers" / "ensure-docker.sh")], check=True,
                       timeout=120)


@pytest.fixture
def engine() -> Iterator[Engine]:
    e = Engine()
    if e.pid() is None:
        pytest.skip(
            "the Docker engine was not started by containers/ensure-docker.sh: not stopping it")
    yield e
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        e.start()  # whatever the test did, the engine runs again after it
