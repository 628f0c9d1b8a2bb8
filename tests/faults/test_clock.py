"""A step of the machine's wall clock under a running job (an NTP correction, `date -s`),
injected for real: CLOCK_REALTIME is set two hours on (or back) and set back after. A job's
runtime and a stop's grace are measured on monotonic time, as SageMaker measures them off the
instance: a step neither ends a job early (MaxRuntimeExceeded) nor keeps it past its grace.

The clock of the whole machine moves, so these run only where the engine was started by
`containers/ensure-docker.sh` (CI's machine, a fresh one), like the engine's faults.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.faults.conftest import Engine
from tests.faults.test_engine import cli, describe, leftovers, wait_for_line, write_job

pytestmark = pytest.mark.integration

STEP = 2 * 3600.0


@contextlib.contextmanager
def wall_clock_stepped(seconds: float) -> Iterator[None]:
    """The machine's wall clock ``seconds`` on (back when negative) inside the block."""
    try:
        time.clock_settime(time.CLOCK_REALTIME, time.clock_gettime(time.CLOCK_REALTIME) + seconds)
    except OSError as exc:
        pytest.skip(f"cannot set the wall clock here: {exc}")
    try:
        yield
    finally:
        time.clock_settime(time.CLOCK_REALTIME, time.clock_gettime(time.CLOCK_REALTIME) - seconds)


@pytest.fixture(autouse=True)
def _our_machine(engine: Engine) -> None:
    """Only on a machine whose engine ensure-docker.sh started (see the module's text)."""


def test_a_step_forward_is_no_runtime(tmp_path: Path) -> None:
    home = tmp_path / "home"
    job = write_job(tmp_path, "clock-on")
    request = yaml.safe_load(job.read_text())
    request["HyperParameters"]["seconds"] = "8"
    request["StoppingCondition"]["MaxRuntimeInSeconds"] = 60
    job.write_text(yaml.safe_dump(request))
    runner = subprocess.Popen(cli(home, "train", str(job)), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(home, "clock-on", "PROBE_SLEEPING", runner=runner)
        with wall_clock_stepped(STEP):
            time.sleep(2)  # several of the runner's polls see the stepped clock
        _, err = runner.communicate(timeout=120)
    finally:
        runner.kill()
    assert runner.returncode == 0, err
    assert "Traceback" not in err
    record = describe(home, "clock-on")
    assert record["TrainingJobStatus"] == "Completed", record.get("SecondaryStatus")
    assert leftovers("clock-on") == []


def test_a_step_back_does_not_delay_the_sigkill(tmp_path: Path) -> None:
    home = tmp_path / "home"
    job = write_job(tmp_path, "clock-back")  # a grace of 5 s
    request = yaml.safe_load(job.read_text())
    request["HyperParameters"] = {"mode": "ignore-term", "seconds": "600"}
    job.write_text(yaml.safe_dump(request))
    runner = subprocess.Popen(cli(home, "train", str(job)), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    stopper = None
    try:
        wait_for_line(home, "clock-back", "PROBE_IGNORING", runner=runner)
        stopper = subprocess.Popen(cli(home, "stop", "clock-back"), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while describe(home, "clock-back")["SecondaryStatus"] != "Stopping":
            assert time.monotonic() < deadline, "the runner never took the stop"
            time.sleep(0.1)
        with wall_clock_stepped(-STEP):  # between SIGTERM and SIGKILL
            started = time.monotonic()
            _, err = runner.communicate(timeout=60)
            ended_after = time.monotonic() - started
    finally:
        runner.kill()
        if stopper is not None:
            stopper.communicate(timeout=60)
    assert "Traceback" not in err
    assert ended_after < 20, ended_after  # the 5 s grace, not two hours
    record = describe(home, "clock-back")
    assert record["TrainingJobStatus"] == "Stopped", record
    assert leftovers("clock-back") == []
