"""``smlocal serve`` as a user starts it, with boto3's SageMaker client pointed at it and jobs
run in real containers: create, the completed-or-stopped waiter, describe, logs, stop."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.integration.conftest import probe_request
from tests.unit.interfaces.server.conftest import free_port

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def wait_for_server(server: subprocess.Popen[str], port: int) -> None:
    """Until the server started as ``server`` answers on ``port`` (it must not end first)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert server.poll() is None, server.communicate()
            assert time.monotonic() < deadline, "the server never answered"
            time.sleep(0.1)


def connect(server: subprocess.Popen[str], port: int) -> Any:
    """boto3's SageMaker client for the server on ``port``, once it answers."""
    wait_for_server(server, port)
    return boto3.client("sagemaker", endpoint_url=f"http://127.0.0.1:{port}",
                        region_name="us-east-1",
                        aws_access_key_id="smlocal", aws_secret_access_key="smlocal-secret")


@pytest.fixture
def served(tmp_path: Path, data_dir: Path) -> Iterator[tuple[Any, Path]]:
    home, port = tmp_path / "home", free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(home), "serve",
         "--port", str(port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    yield connect(server, port), home
    server.terminate()
    _, err = server.communicate(timeout=30)
    assert "Traceback" not in err, err
    assert f"http://127.0.0.1:{port}" in err and "loopback" in err


def test_boto3_runs_a_training_job_in_a_container(served: tuple[Any, Path], tmp_path: Path) -> None:
    sm, home = served
    sm.create_training_job(**probe_request(tmp_path, "served-probe", RoleArn=ROLE))
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName="served-probe", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    described = sm.describe_training_job(TrainingJobName="served-probe")
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    assert described["ModelArtifacts"]["S3ModelArtifacts"] == f"file://{tmp_path}/out/served-probe/output/model.tar.gz"
    logs = subprocess.run(
        [sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(home), "logs",
                           "served-probe"], capture_output=True, text=True, check=True)
    assert "PROBE_REPORT" in logs.stdout  # the same store the CLI reads


def test_boto3_stops_a_running_container(served: tuple[Any, Path], tmp_path: Path) -> None:
    sm, _ = served
    sm.create_training_job(**probe_request(tmp_path, "served-sleep", {"mode": "sleep"},
                                           RoleArn=ROLE))
    deadline = time.monotonic() + 60
    while sm.describe_training_job(TrainingJobName="served-sleep")["SecondaryStatus"] != "Training":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    sm.stop_training_job(TrainingJobName="served-sleep")
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName="served-sleep", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    assert (sm.describe_training_job(TrainingJobName="served-sleep")["TrainingJobStatus"]
            == "Stopped")


def test_a_restarted_server_carries_on_with_its_jobs(tmp_path: Path, data_dir: Path) -> None:
    home, port = tmp_path / "home", free_port()
    argv = [sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(home), "serve",
            "--port", str(port)]
    first = subprocess.Popen(argv, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        sm = connect(first, port)
        sm.create_training_job(**probe_request(tmp_path, "outlives",
                                               {"mode": "sleep", "seconds": "6"}, RoleArn=ROLE))
        deadline = time.monotonic() + 60
        while sm.describe_training_job(TrainingJobName="outlives")["SecondaryStatus"] != "Training":
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        first.kill()  # SIGKILL: the container outlives the server
        first.communicate(timeout=30)
    second = subprocess.Popen(argv, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        sm = connect(second, port)
        sm.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName="outlives", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        assert (sm.describe_training_job(TrainingJobName="outlives")["TrainingJobStatus"]
                == "Completed")
    finally:
        second.terminate()
        _, err = second.communicate(timeout=30)
    assert "carrying on with 1 job(s) no process ran: outlives" in err


ROOT = Path(__file__).resolve().parents[2]  # the examples' paths lie in the checkout


@contextlib.contextmanager
def serving_the_checkout(home: Path) -> Iterator[str]:
    """`smlocal serve` run in the checkout (as a user runs it there): its URL, once it
    answers; its stderr is checked for tracebacks when it stops."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(home), "serve",
         "--port", str(port)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_server(server, port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    assert "Traceback" not in err, err


def test_the_boto3_example_runs_against_the_server(tmp_path: Path) -> None:
    with serving_the_checkout(tmp_path / "home") as url:
        done = subprocess.run([sys.executable, "examples/boto3_training.py", "--endpoint-url",
                               url], cwd=ROOT, capture_output=True, text=True, timeout=300,
                              check=False)
    assert done.returncode == 0, done.stderr
    assert "Completed" in done.stdout and "model.tar.gz" in done.stdout


def test_the_cli_runs_the_demo_through_the_server(tmp_path: Path) -> None:
    """`smlocal --endpoint URL train` on the repo's own request file: its Local.Build is done
    by the client (the server is on loopback), the job runs in the server, the client prints
    its log and exits as in-process."""
    name = f"cli-remote-{int(time.time())}"
    with serving_the_checkout(tmp_path / "home") as url:
        done = subprocess.run(
            [sys.executable, "-m", "runner.interfaces.cli.main", "--home",
             str(tmp_path / "client"), "--endpoint", url, "train",
             "examples/demo-training-job.yaml", "--name", name],
            cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "epoch=20 " in done.stdout
    assert "Local.StopGracePeriodSeconds: not applied" in done.stderr
    assert f"smlocal: training job {name}: Completed" in done.stderr
    assert (ROOT / ".smlocal" / "output" / name / "output" / "model.tar.gz").is_file()
    shutil.rmtree(ROOT / ".smlocal" / "output" / name)
