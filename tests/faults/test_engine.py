"""The Docker engine stopped under a running job: the job ends Failed with the true reason
(never Completed), without a traceback, its record and CLI agreeing."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.faults.conftest import Engine

pytestmark = pytest.mark.integration
PROBE = "smlocal/probe:latest"


def write_job(tmp_path: Path, name: str, **local: Any) -> Path:
    data = tmp_path / "data" / "train"
    data.mkdir(parents=True, exist_ok=True)
    (data / "a.csv").write_text("1,2\n")
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": PROBE, "TrainingInputMode": "File"},
        "HyperParameters": {"mode": "sleep", "seconds": "60"},  # exits 0 on SIGTERM
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"file://{data}"}}}],
        "OutputDataConfig": {"S3OutputPath": f"file://{tmp_path}/out"},
        "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "Local": {"StopGracePeriodSeconds": 5, **local},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(request))
    return path


def cli(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(home), *args]


def wait_for_line(home: Path, name: str, marker: str, timeout: float = 60,
                  runner: subprocess.Popen[str] | None = None) -> None:
    """Until the job's log has ``marker``; its ``runner``'s output when it ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(cli(home, "logs", name), capture_output=True, text=True,
                             check=False).stdout
        if marker in out:
            return
        if runner is not None and runner.poll() is not None:
            raise AssertionError(f"the runner ended (exit {runner.returncode}) before "
                                 f"{marker}: {runner.communicate()}")
        time.sleep(0.3)
    state = subprocess.run(["docker", "ps", "-a", "--filter", f"label=smlocal.job={name}"],
                           capture_output=True, text=True, check=False).stdout
    raise AssertionError(f"{marker} never appeared; the job's containers:\n{state}")


def describe(home: Path, name: str) -> dict[str, Any]:
    result = subprocess.run(cli(home, "describe", name), capture_output=True, text=True, check=True)
    return dict(json.loads(result.stdout))


def leftovers(name: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=smlocal.job={name}"],
                         capture_output=True, text=True, check=False).stdout
    return out.split()


def test_engine_restarted_mid_job_fails_it_truthfully(tmp_path: Path, engine: Engine) -> None:
    home = tmp_path / "home"
    runner = subprocess.Popen(cli(home, "train", str(write_job(tmp_path, "fault-restart"))),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(home, "fault-restart", "PROBE_SLEEPING", runner=runner)
        engine.stop()  # the engine sends the container SIGTERM; the probe exits 0
        time.sleep(3)
        engine.start()
        _, err = runner.communicate(timeout=120)
    finally:
        runner.kill()
    assert runner.returncode == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    record = describe(home, "fault-restart")
    assert record["TrainingJobStatus"] == "Failed"
    assert record["FailureReason"].startswith(
        "InternalServerError: the container "), record["FailureReason"]
    # the CLI says what the record says
    assert f"FailureReason: {record['FailureReason'].splitlines()[0]}" in err
    # as for any failure
    assert (tmp_path / "out" / "fault-restart" / "output" / "model.tar.gz").is_file()
    assert leftovers("fault-restart") == []


def test_an_engine_that_stays_away_ends_the_job_after_its_wait(
    tmp_path: Path, engine: Engine
) -> None:
    home = tmp_path / "home"
    job = write_job(tmp_path, "fault-gone", EngineWaitSeconds=3)
    runner = subprocess.Popen(cli(home, "train", str(job)), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(home, "fault-gone", "PROBE_SLEEPING", runner=runner)
        stopped = threading.Event()
        threading.Thread(target=lambda: (engine.stop(), stopped.set()), daemon=True).start()
        _, err = runner.communicate(timeout=120)  # ends while the engine is still away
    finally:
        runner.kill()
    assert stopped.wait(60)
    assert runner.returncode == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    engine.start()
    record = describe(home, "fault-gone")
    assert record["TrainingJobStatus"] == "Failed"
    reason = record["FailureReason"]
    assert reason.startswith("InternalServerError: "), reason
    assert ("did not come back within 3 s" in reason
            or "ended while the Docker engine was away" in reason)
    for cid in leftovers("fault-gone"):  # the engine was away: the runner could not remove it
        assert cid[:12] in err
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, check=False)


def trial_containers(tuning_job: str) -> list[str]:
    out = subprocess.run(["docker", "ps", "-q", "--filter", f"name={tuning_job}-"],
                         capture_output=True, text=True, check=False).stdout
    return out.split()


def test_engine_restarted_mid_tuning_retries_the_trial(tmp_path: Path, engine: Engine) -> None:
    from tests.integration.test_tuning import probe_tuning_file

    home = tmp_path / "home"
    spec = probe_tuning_file(tmp_path, "fault-tune", "6", jobs=2, parallel=1)
    request = yaml.safe_load(spec.read_text())
    request["TrainingJobDefinition"]["RetryStrategy"] = {"MaximumRetryAttempts": 1}
    spec.write_text(yaml.safe_dump(request))
    runner = subprocess.Popen(cli(home, "tune", str(spec), "--plain", "--grace", "5"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not trial_containers("fault-tune") and time.monotonic() < deadline:
            time.sleep(0.3)
        time.sleep(2)
        engine.stop()
        time.sleep(2)
        engine.start()
        _, err = runner.communicate(timeout=240)
    finally:
        runner.kill()
    assert "Traceback" not in err and "internal error" not in err, err
    trials = json.loads(subprocess.run(cli(home, "trials", "fault-tune", "--output", "json"),
                                       capture_output=True, text=True,
                                       check=True).stdout)["TrainingJobSummaries"]
    failed = [t for t in trials if t["TrainingJobStatus"] == "Failed"]
    assert (len(failed) == 1
            and failed[0]["FailureReason"].startswith("InternalServerError: ")), trials
    record = describe(home, "fault-tune")
    assert record["TrainingJobStatusCounters"]["RetryableError"] == 1, record
    assert record["TrainingJobStatusCounters"]["Completed"] == 2, record
