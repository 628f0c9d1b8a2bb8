"""Tests for runner.store.lease: one live holder per job, let go of when its process dies."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from runner.store import lease


def test_one_holder_at_a_time(tmp_path: Path) -> None:
    first = lease.try_acquire(tmp_path, "training", "job-1")
    assert first is not None
    # another holder, even in this process
    assert lease.try_acquire(tmp_path, "training", "job-1") is None
    assert lease.try_acquire(tmp_path, "tuning", "job-1") is not None  # another kind, another lease
    first.release()
    again = lease.try_acquire(tmp_path, "training", "job-1")
    assert again is not None
    again.release()


def test_wait_gets_a_lease_released_meanwhile(tmp_path: Path) -> None:
    held = lease.try_acquire(tmp_path, "training", "job-2")
    assert held is not None
    started = time.monotonic()
    assert lease.try_acquire(tmp_path, "training", "job-2", wait=0.3) is None
    assert time.monotonic() - started >= 0.3
    held.release()
    with lease.try_acquire(tmp_path, "training", "job-2", wait=0.3) or _fail():
        pass


def _fail() -> lease.Lease:
    raise AssertionError("no lease")


def test_a_killed_holder_lets_go(tmp_path: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path; from runner.store import lease\n"
        "held = lease.try_acquire(Path(sys.argv[1]), 'tuning', 'job-3')\n"
        "print('held' if held else 'refused', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert lease.try_acquire(tmp_path, "tuning", "job-3") is None
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    finally:
        holder.kill()
    assert lease.try_acquire(tmp_path, "tuning", "job-3") is not None


def test_the_lease_file_stays_in_the_store_whatever_the_name(tmp_path: Path) -> None:
    path = lease.lease_path(tmp_path, "training", "../../etc/passwd")
    assert path.parent == tmp_path / "leases" and ".." not in path.name
