"""`smlocal` as users run it: separate processes for train, describe, logs, list and stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.engines.docker.backend import DockerBackend
from tests.integration.conftest import probe_request

pytestmark = pytest.mark.integration


def smlocal(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(home), *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def start_smlocal(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(home), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def write_spec(
    tmp_path: Path, request: dict[str, Any], name: str = "job.yaml", **local: Any
) -> Path:
    path = tmp_path / name
    doc = dict(request)
    if local:
        doc["Local"] = local
    path.write_text(yaml.safe_dump(doc))
    return path


def wait_for_log(home: Path, name: str, marker: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = smlocal(home, "logs", name)
        if result.returncode == 0 and marker in result.stdout:
            return
        time.sleep(0.2)
    raise AssertionError(f"{marker} never appeared in the logs of {name}")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_train_describe_list_logs(
    tmp_path: Path, home: Path, data_dir: Path, backend: DockerBackend
) -> None:
    spec = write_spec(tmp_path, probe_request(tmp_path, "cli-ok",
                                              {"mode": "metrics", "lines": '["loss=0.25"]'},
                                              RoleArn="arn:aws:iam::123456789012:role/x"))
    spec_doc = yaml.safe_load(spec.read_text())
    spec_doc["AlgorithmSpecification"]["MetricDefinitions"] = [
        {"Name": "loss", "Regex": "^loss=(.*)"}]
    spec.write_text(yaml.safe_dump(spec_doc))
    result = smlocal(home, "train", str(spec))
    assert result.returncode == 0, result.stderr
    assert "PROBE_REPORT" in result.stdout
    assert "training job cli-ok: Completed" in result.stderr

    described = json.loads(smlocal(home, "describe", "cli-ok").stdout)
    assert described["TrainingJobStatus"] == "Completed"
    assert described["FinalMetricDataList"][0]["MetricName"] == "loss"
    assert described["FinalMetricDataList"][0]["Value"] == 0.25
    assert described["RoleArn"] == "arn:aws:iam::123456789012:role/x"
    assert "ExitCode" not in described

    listed = json.loads(smlocal(home, "list", "--output", "json").stdout)
    assert [s["TrainingJobName"] for s in listed["TrainingJobSummaries"]] == ["cli-ok"]
    assert "cli-ok" in smlocal(home, "list").stdout
    assert "loss=0.25" in smlocal(home, "logs", "cli-ok").stdout

    again = smlocal(home, "train", str(spec))
    assert again.returncode == 2
    assert "cli-ok already exists" in again.stderr
    assert "Traceback" not in again.stderr


def test_stop_from_another_process(
    tmp_path: Path, home: Path, data_dir: Path, backend: DockerBackend
) -> None:
    spec = write_spec(tmp_path,
                      probe_request(tmp_path, "cli-stop", {"mode": "sleep", "seconds": "120"}))
    runner = start_smlocal(home, "train", str(spec), "--grace", "30")
    follower = None
    try:
        wait_for_log(home, "cli-stop", "PROBE_SLEEPING")
        follower = start_smlocal(home, "logs", "cli-stop", "--follow")
        described = json.loads(smlocal(home, "describe", "cli-stop").stdout)
        assert described["TrainingJobStatus"] == "InProgress"
        assert described["SecondaryStatus"] == "Training"
        stopped = smlocal(home, "stop", "cli-stop")
        assert stopped.returncode == 0, stopped.stderr
        out, err = runner.communicate(timeout=60)
        assert runner.returncode == 1
        assert "Stopped" in err
        follow_out, _ = follower.communicate(timeout=30)
        assert "PROBE_SIGTERM" in follow_out  # --follow ran until the job ended
    finally:
        runner.kill()
        if follower is not None:
            follower.kill()
    described = json.loads(smlocal(home, "describe", "cli-stop").stdout)
    assert (described["TrainingJobStatus"], described["SecondaryStatus"]) == ("Stopped", "Stopped")
    again = smlocal(home, "stop", "cli-stop")
    assert again.returncode == 2
    assert "already ended as Stopped" in again.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_to_the_runner_stops_the_job_and_leaves_nothing(
    tmp_path: Path, home: Path, data_dir: Path, backend: DockerBackend, sig: signal.Signals,
) -> None:
    spec = write_spec(tmp_path,
                      probe_request(tmp_path, "cli-term", {"mode": "sleep", "seconds": "120"}))
    runner = start_smlocal(home, "train", str(spec))
    try:
        wait_for_log(home, "cli-term", "PROBE_SLEEPING")
        runner.send_signal(sig)
        runner.communicate(timeout=60)
    finally:
        runner.kill()
    assert runner.returncode == 130
    described = json.loads(smlocal(home, "describe", "cli-term").stdout)
    assert described["TrainingJobStatus"] == "Stopped"
    assert DockerBackend(home, backend.client).find({"smlocal.job": "cli-term"}) == []
    assert [c for c in backend.client.containers.list(all=True) if "cli-term" in c.name] == []


def test_bad_request_exits_2_with_field_paths(tmp_path: Path, home: Path, data_dir: Path) -> None:
    request = probe_request(tmp_path, "bad_name!",
                            StoppingCondition={"MaxRuntimeInSeconds": "soon"})
    request["AlgorithmSpecification"]["MetricDefinitions"] = [{"Name": "x", "Regex": "no group"}]
    spec = write_spec(tmp_path, request)
    for command in ("validate", "train"):
        result = smlocal(home, command, str(spec))
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert "TrainingJobName: must match [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}" in lines
        assert any(line.startswith("StoppingCondition.MaxRuntimeInSeconds: ") for line in lines)
        assert any(line.startswith("AlgorithmSpecification.MetricDefinitions[0].Regex: ")
                   for line in lines)
        assert "Traceback" not in result.stderr
    assert not (home / "jobs").exists()


def test_image_build_errors_are_reported_cleanly(
    tmp_path: Path, home: Path, data_dir: Path
) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM smlocal/python:3.11\nRUN exit 7\n")
    request = probe_request(tmp_path, "cli-build")
    request["AlgorithmSpecification"]["TrainingImage"] = "smlocal-test/broken:latest"
    spec = write_spec(tmp_path, request, Build={"Context": "ctx"})
    result = smlocal(home, "train", str(spec))
    assert result.returncode == 1
    assert "building image 'smlocal-test/broken:latest' failed" in result.stderr
    assert "returned a non-zero code: 7" in result.stderr
    assert "Traceback" not in result.stderr


def test_build_then_run_a_users_image(
    tmp_path: Path, home: Path, data_dir: Path, backend: DockerBackend, test_label: str
) -> None:
    tag = f"smlocal-test/user:{test_label}"
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "train").write_text("#!/bin/sh\necho \"user image says hi to $TRAINING_JOB_NAME\"\n")
    os.chmod(context / "train", 0o755)
    (context / "Dockerfile").write_text(
        "FROM smlocal/python:3.11\nCOPY train /usr/local/bin/train\n")
    request = probe_request(tmp_path, "cli-user-image")
    request["AlgorithmSpecification"]["TrainingImage"] = tag
    spec = write_spec(tmp_path, request, Build={"Context": "ctx"})
    try:
        result = smlocal(home, "train", str(spec))
        assert result.returncode == 0, result.stderr
        assert "user image says hi to cli-user-image" in result.stdout
        assert "Step 1/" in result.stderr  # the build log streamed
        rebuilt = smlocal(home, "build", str(context), "-t", tag)
        assert "is up to date" in rebuilt.stderr
    finally:
        backend.client.images.remove(tag, force=True)
