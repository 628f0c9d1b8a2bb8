"""``--backend sagemaker`` against ``smlocal serve`` standing in for SageMaker (its jobs really
run, in containers) and moto for S3: the same request run here and "in the cloud" gives
``smlocal diff`` exit 0; a followed job is let go on Ctrl-C, stopped and followed again from
other processes; a job that ran there is imported. Credentials are fake and never stored."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.aws.clients import AwsClients
from runner.store.jobs import Store
from runner.store.tuning import TuningStore
from runner.tuning import trial_jobs
from runner.tuning.records import spaces, warm_start_trials
from tests.integration.conftest import BUCKET, SECRET
from tests.integration.s3_jobs import put, request, s3_channel
from tests.integration.test_server import connect
from tests.unit.interfaces.server.conftest import free_port

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
LINES = json.dumps(["loss=0.9", "loss=0.5", "loss=0.25"])


@pytest.fixture
def cloud(aws: AwsClients, moto_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """``smlocal serve`` as the cloud (its S3 is moto); the environment a client needs to
    reach it as SageMaker and CloudWatch Logs, and moto as S3."""
    env = {**os.environ, "AWS_ENDPOINT_URL_S3": moto_url, "AWS_ENDPOINT_URL_STS": moto_url}
    env.pop("AWS_ENDPOINT_URL", None)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(tmp_path / "cloud"),
         "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    connect(server, port)
    url = f"http://127.0.0.1:{port}"
    put(aws, "data/train/a.csv", "1,2,3\n")
    yield {**env, "AWS_ENDPOINT_URL_SAGEMAKER": url, "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": url}
    server.terminate()
    _, err = server.communicate(timeout=60)
    assert "Traceback" not in err, err


def job_file(tmp_path: Path, name: str, hps: dict[str, str]) -> Path:
    req = request(name, hps, [s3_channel("train", f"s3://{BUCKET}/data/train")], RoleArn=ROLE)
    req["ResourceConfig"]["InstanceType"] = "ml.m5.large"
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(req))
    return path


def smlocal(home: Path, env: dict[str, str], *argv: str,
            check: bool = False) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(home),
                           *argv], env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_the_same_request_here_and_in_the_cloud_agrees(cloud: dict[str, str],
                                                         tmp_path: Path) -> None:
    home = tmp_path / "home"
    spec = job_file(tmp_path, "twin", {"mode": "metrics", "lines": LINES, "interval": "0.2"})
    here = smlocal(home, cloud, "train", str(spec), "--quiet", check=True)
    there = smlocal(home, cloud, "train", str(spec), "--backend", "sagemaker", check=True)
    assert "twin is recorded here already: the SageMaker run is twin-cloud" in there.stderr
    assert "loss=0.25" in there.stdout  # its CloudWatch lines, echoed as they were followed
    assert "submitted to SageMaker" in there.stderr and "Training" in there.stderr
    assert "train:loss = 0.25" in there.stderr and "train:loss = 0.25" in here.stderr

    described = json.loads(smlocal(home, cloud, "describe", "twin-cloud", check=True).stdout)
    assert described["TrainingJobStatus"] == "Completed"
    assert described["TrainingJobArn"].endswith(":training-job/twin-cloud")
    assert loss_lines(smlocal(home, cloud, "logs", "twin-cloud", check=True).stdout) == [
        "loss=0.9", "loss=0.5", "loss=0.25"]  # stored once each, in order

    diff = smlocal(home, cloud, "diff", "twin", "twin-cloud", "--output", "json", "--report",
                   str(tmp_path / "compared"))
    assert diff.returncode == 0, diff.stdout
    page = (tmp_path / "compared" / "index.html").read_text()
    assert "twin vs twin-cloud: agree" in page and "curves.png" in page
    assert (tmp_path / "compared" / "curves.png").stat().st_size > 1000
    rows = {row["field"]: row for row in json.loads(diff.stdout)["Rows"]}
    assert rows["where"]["b"].startswith("SageMaker (us-east-1, http://127.0.0.1:")
    assert rows["final train:loss"]["agrees"] is True
    assert rows["model.tar.gz files"]["agrees"] is True
    assert rows["series train:loss"]["b"] == "3 values, last 0.25"
    for where in (home, tmp_path / "cloud"):  # the fake keys are nowhere in either store
        assert SECRET not in (where / "smlocal.db").read_bytes().decode("utf-8", "replace")

    other = job_file(tmp_path, "other", {"mode": "metrics", "lines": json.dumps(["loss=0.5"])})
    smlocal(home, cloud, "train", str(other), "--quiet", check=True)
    differs = smlocal(home, cloud, "diff", "twin", "other")
    assert differs.returncode == 1
    assert "final train:loss" in differs.stdout and "DIFFERS" in differs.stdout


def tuning_file(tmp_path: Path, name: str) -> Path:
    definition = request("unused", {"mode": "metrics", "interval": "0.2"},
                         [s3_channel("train", f"s3://{BUCKET}/data/train")], RoleArn=ROLE)
    definition["ResourceConfig"]["InstanceType"] = "ml.m5.large"
    definition["StaticHyperParameters"] = definition.pop("HyperParameters")
    del definition["TrainingJobName"]
    tuning = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Grid",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "train:loss"},
            "ResourceLimits": {"MaxParallelTrainingJobs": 2},
            "ParameterRanges": {"CategoricalParameterRanges": [{"Name": "lines", "Values": [
                json.dumps(["loss=0.9", "loss=0.5"]), json.dumps(["loss=0.7", "loss=0.3"]),
                json.dumps(["loss=0.1"])]}]},
        },
        "TrainingJobDefinition": definition,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(tuning))
    return path


def test_a_tuning_job_here_in_the_cloud_and_with_cloud_trials_agrees(
        cloud: dict[str, str], tmp_path: Path) -> None:
    home = tmp_path / "home"
    spec = tuning_file(tmp_path, "grid")
    smlocal(home, cloud, "tune", str(spec), "--plain", check=True)
    there = smlocal(home, cloud, "tune", str(spec), "--plain", "--backend", "sagemaker",
                    check=True)  # the same file: the cloud run is grid-cloud
    assert "submitted to SageMaker" in there.stderr
    assert "best: grid-cloud-" in there.stderr and "train:loss = 0.1" in there.stderr
    trials = smlocal(home, cloud, "trials", "grid-cloud", "--output", "json", check=True)
    summaries = json.loads(trials.stdout)["TrainingJobSummaries"]
    assert sorted(s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
                  for s in summaries) == [0.1, 0.3, 0.5]
    first = summaries[0]["TrainingJobName"]  # its lines were read when it ended
    assert loss_lines(smlocal(home, cloud, "logs", first, check=True).stdout)
    cloud_trials = smlocal(home, cloud, "tune", str(spec), "--plain", "--trials-on",
                           "sagemaker", "--name", "grid-trials", check=True)
    assert "best: grid-trials-" in cloud_trials.stderr
    for other in ("grid-cloud", "grid-trials"):
        diff = smlocal(home, cloud, "diff", "grid", other, "--output", "json")
        assert diff.returncode == 0, diff.stdout
        rows = json.loads(diff.stdout)["Rows"]
        assert sum(1 for r in rows if r["field"].startswith("trial ") and r["agrees"]) == 3
    sm = boto3_client(cloud)  # the trials ran "in the cloud": the stand-in has them
    assert sm.describe_training_job(TrainingJobName=first)["TrainingJobStatus"] == "Completed"
    listed = sm.list_training_jobs(NameContains="grid-trials")["TrainingJobSummaries"]
    assert len(listed) == 3

    warm = yaml.safe_load(spec.read_text())  # a local job warm-starts from the cloud's
    warm["HyperParameterTuningJobName"] = "warm"
    warm["HyperParameterTuningJobConfig"].update(
        Strategy="Random", ResourceLimits={"MaxNumberOfTrainingJobs": 1,
                                           "MaxParallelTrainingJobs": 1})
    warm["WarmStartConfig"] = {"WarmStartType": "IdenticalDataAndAlgorithm",
                               "ParentHyperParameterTuningJobs": [
                                   {"HyperParameterTuningJobName": "grid-cloud"}]}
    (tmp_path / "warm.yaml").write_text(yaml.safe_dump(warm))
    smlocal(home, cloud, "tune", str(tmp_path / "warm.yaml"), "--plain", check=True)
    store = Store(home)
    try:  # the parent's three trials are the history the warm-started search was given
        space = spaces(warm)[trial_jobs.SINGLE_DEFINITION]
        parents = warm_start_trials(store, TuningStore(store), warm["WarmStartConfig"], space)
    finally:
        store.close()
    assert sorted(t.objective for t in parents) == [0.1, 0.3, 0.5]  # type: ignore[type-var]

    elsewhere = tmp_path / "elsewhere"  # another store imports the cloud's tuning job
    imported = smlocal(elsewhere, cloud, "import", "grid-cloud", check=True)
    assert "tuning job grid-cloud: Completed (Completed 3)" in imported.stderr
    again = json.loads(smlocal(elsewhere, cloud, "trials", "grid-cloud", "--output", "json",
                               check=True).stdout)["TrainingJobSummaries"]
    assert sorted(s["TrainingJobName"] for s in again) == sorted(
        s["TrainingJobName"] for s in summaries)
    assert loss_lines(smlocal(elsewhere, cloud, "logs", first, check=True).stdout)


def test_a_followed_job_is_let_go_stopped_and_followed_again(cloud: dict[str, str],
                                                               tmp_path: Path) -> None:
    home = tmp_path / "home"
    spec = job_file(tmp_path, "long", {"mode": "sleep", "seconds": "120"})
    follower = subprocess.Popen(
        [sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(home), "train",
         str(spec), "--backend", "sagemaker"],
        env=cloud, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: "PROBE_SLEEPING" in smlocal(home, cloud, "logs", "long").stdout)
    finally:
        follower.send_signal(signal.SIGINT)
        _, err = follower.communicate(timeout=60)
    assert follower.returncode == 130, err
    assert "let go of training job long: it goes on in SageMaker" in err
    sm = boto3_client(cloud)
    assert sm.describe_training_job(TrainingJobName="long")["TrainingJobStatus"] == "InProgress"

    smlocal(home, cloud, "stop", "long", check=True)
    followed = smlocal(home, cloud, "logs", "--follow", "long")  # no process follows it:
    assert followed.returncode == 0, followed.stderr  # this one does, to its end
    assert "training job long: Stopping" in followed.stderr
    assert json.loads(smlocal(home, cloud, "describe", "long").stdout)[
        "TrainingJobStatus"] == "Stopped"
    resumed = smlocal(home, cloud, "train", "--resume", "long")
    assert resumed.returncode == 1, resumed.stderr  # Stopped
    assert "training job long: Stopped" in resumed.stderr
    assert json.loads(smlocal(home, cloud, "describe", "long").stdout)[
        "TrainingJobStatus"] == "Stopped"
    assert smlocal(home, cloud, "logs", "long").stdout.count("PROBE_SLEEPING") == 1


def test_a_job_that_ran_in_the_cloud_is_imported(cloud: dict[str, str], tmp_path: Path) -> None:
    sm = boto3_client(cloud)
    req = yaml.safe_load(job_file(tmp_path, "elsewhere", {"mode": "metrics", "lines": LINES})
                         .read_text())
    sm.create_training_job(**req)
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName="elsewhere", WaiterConfig={"Delay": 1, "MaxAttempts": 120})

    home = tmp_path / "home"
    imported = smlocal(home, cloud, "import", "elsewhere", "--quiet", check=True)
    assert "training job elsewhere: Completed" in imported.stderr
    assert len(loss_lines(smlocal(home, cloud, "logs", "elsewhere").stdout)) == 3
    again = smlocal(home, cloud, "import", "elsewhere")
    assert again.returncode == 2 and "already exists" in again.stderr
    missing = smlocal(home, cloud, "import", "never-ran")
    assert missing.returncode == 2, missing.stderr


def loss_lines(logs: str) -> list[str]:
    return [line for line in logs.splitlines() if line.startswith("loss=")]


def boto3_client(env: dict[str, str]) -> Any:
    import boto3

    return boto3.client("sagemaker", endpoint_url=env["AWS_ENDPOINT_URL_SAGEMAKER"],
                        region_name="us-east-1")


def wait_for(condition: Any, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.5)
