"""A whole training job (``TrainingRun``) on the fake engine and a fake clock: config files in,
logs and metrics stored, artifacts out, stops and limits, in milliseconds."""

from __future__ import annotations

import json
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from runner.aws.clients import AwsClients, AwsConfig
from runner.contract.credentials import (
    CREDENTIALS_FILE,
    FULL_URI_ENV,
    SECRET_ENV,
    endpoint_url,
)
from runner.core.clock import FakeClock
from runner.core.specs import LocalOptions, Spec
from runner.engines.fake import FakeBackend, FakeContainer
from runner.store.jobs import Store
from runner.training.context import RunContext
from runner.training.run import TrainingRun

IMAGE = "fake/algo:latest"


def algorithm(box: FakeContainer) -> int:
    """Reads its config and data, reports a loss per simulated minute, writes a model."""
    hps = box.hyperparameters()
    resource = json.loads(box.path("/opt/ml/input/config/resourceconfig.json").read_text())
    rows = (box.path("/opt/ml/input/data/train") / "rows.csv").read_text().splitlines()
    box.print(f"host {resource['current_host']} of {resource['hosts']}: {len(rows)} rows")
    if hps.get("fail_on") == resource["current_host"]:
        (box.path("/opt/ml/output") / "failure").write_text("RuntimeError: host gave up")
        return 1
    for epoch in range(1, int(hps.get("epochs", "3")) + 1):
        if box.sleep(60):
            return 143
        box.print(f"epoch={epoch} loss={1 / epoch:.4f}", "stderr" if epoch % 2 else "stdout")
    (box.path("/opt/ml/model") / "weights.txt").write_text("w")
    return 0


def request(tmp_path: Path, **hps: str) -> dict[str, Any]:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "rows.csv").write_text("1\n2\n3\n")
    return {
        "TrainingJobName": "fake-job",
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File",
                                   "MetricDefinitions": [{"Name": "loss", "Regex": "loss=(\\S+)"}]},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "HyperParameters": {"epochs": "3", **hps},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"file://{tmp_path / 'data'}"}}}],
        "OutputDataConfig": {"S3OutputPath": f"file://{tmp_path / 'output'}"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def run(
    tmp_path: Path, req: dict[str, Any], grace: float = 30, *, clock: FakeClock | None = None,
    store: Store | None = None, program: Any = algorithm
) -> tuple[dict[str, Any], Store, FakeBackend]:
    clock = clock or FakeClock()
    store = store or Store(tmp_path / "home")
    backend = FakeBackend(tmp_path / "engine", {IMAGE: program}, clock)
    job = TrainingRun(Spec(req, LocalOptions(stop_grace_seconds=grace), tmp_path),
                      RunContext(store=store, backend=backend, clock=clock))
    job.create()
    return job.run(), store, backend


def test_a_training_job_runs_end_to_end(tmp_path: Path) -> None:
    started = time.monotonic()
    record, store, backend = run(tmp_path, request(tmp_path))
    assert time.monotonic() - started < 5
    assert record["TrainingJobStatus"] == "Completed"
    assert [t["Status"] for t in record["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert record["TrainingTimeInSeconds"] >= 180  # three simulated minutes
    assert ({m["MetricName"]: m["Value"] for m in record["FinalMetricDataList"]}
            == {"loss": pytest.approx(1 / 3, abs=1e-4)})
    assert ([v for _, v in store.metric_series("fake-job")["loss"]]
            == pytest.approx([1.0, 0.5, 0.3333], abs=1e-4))
    lines = [(entry.stream, entry.line) for entry in store.iter_logs("fake-job")]
    assert lines[0] == ("stdout", "host algo-1 of ['algo-1']: 3 rows")
    assert ("stderr", "epoch=1 loss=1.0000") in lines and ("stdout", "epoch=2 loss=0.5000") in lines
    model = tmp_path / "output" / "fake-job" / "output" / "model.tar.gz"
    with tarfile.open(model) as tar:
        assert tar.getnames() == ["weights.txt"]
    assert record["ModelArtifacts"]["S3ModelArtifacts"].endswith("fake-job/output/model.tar.gz")
    assert backend.running() == [] and backend.find({"smlocal.job": "fake-job"}) == []


def test_max_runtime_stops_the_job_through_the_clock(tmp_path: Path) -> None:
    req = request(tmp_path, epochs="1000")
    req["StoppingCondition"] = {"MaxRuntimeInSeconds": 300}
    started = time.monotonic()
    record, _, _ = run(tmp_path, req)
    assert time.monotonic() - started < 10
    assert (record["TrainingJobStatus"] == "Stopped"
            and record["SecondaryStatus"] == "MaxRuntimeExceeded")


@pytest.mark.parametrize("step", [+7200.0, -7200.0])
def test_a_step_of_the_wall_clock_is_no_runtime_and_no_grace(tmp_path: Path,
                                                            step: float) -> None:
    """MaxRuntimeInSeconds and the stop's grace are measured on monotonic time: a wall clock
    stepped two hours on (or back) mid-job neither ends it nor keeps it past its limit."""
    clock = FakeClock()
    store = Store(tmp_path / "home")
    req = request(tmp_path, epochs="3")
    req["StoppingCondition"] = {"MaxRuntimeInSeconds": 600}

    def stepped(box: FakeContainer) -> int:
        box.print("before the step")
        while not store.log_count(req["TrainingJobName"]):  # (until the runner reads)
            box.sleep(1)
        clock.step(step)
        return algorithm(box)

    record, _, _ = run(tmp_path, req, clock=clock, store=store, program=stepped)
    assert record["TrainingJobStatus"] == "Completed", record.get("SecondaryStatus")
    req = {**request(tmp_path, epochs="1000"), "TrainingJobName": "fake-job-2"}
    req["StoppingCondition"] = {"MaxRuntimeInSeconds": 600}
    started = clock.monotonic()
    record, _, _ = run(tmp_path, req, clock=clock, store=store, program=stepped)
    assert record["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert 600 <= clock.monotonic() - started < 700  # its limit, on monotonic time


def test_a_stop_request_reaches_the_container(tmp_path: Path) -> None:
    clock = FakeClock()
    store = Store(tmp_path / "home")
    req = request(tmp_path, epochs="1000")

    def stop_me(box: FakeContainer) -> int:
        store.request_stop("fake-job", clock.now())
        return algorithm(box)

    record, _, _ = run(tmp_path, req, clock=clock, store=store, program=stop_me)
    assert record["TrainingJobStatus"] == "Stopped" and record["SecondaryStatus"] == "Stopped"
    assert "Stopping" in [t["Status"] for t in record["SecondaryStatusTransitions"]]


def test_a_host_failing_fails_the_job_and_stops_the_others(tmp_path: Path) -> None:
    req = request(tmp_path, fail_on="algo-2", epochs="1000")
    req["ResourceConfig"]["InstanceCount"] = 3
    record, _, backend = run(tmp_path, req)
    assert record["TrainingJobStatus"] == "Failed"
    assert record["FailureReason"] == "RuntimeError: host gave up"
    assert sorted(s.hostname for s in backend.started) == ["algo-1", "algo-2", "algo-3"]
    assert backend.running() == []


def test_a_missing_image_fails_the_job_as_a_client_error(tmp_path: Path) -> None:
    req = request(tmp_path)
    req["AlgorithmSpecification"]["TrainingImage"] = "fake/missing:latest"
    record, _, _ = run(tmp_path, req)
    assert record["TrainingJobStatus"] == "Failed"
    assert record["FailureReason"].startswith("ClientError: No such image: fake/missing:latest")
    assert "ModelArtifacts" not in record  # its containers never started: no artifacts


def test_containers_get_credentials_from_an_endpoint_not_their_environment(
    tmp_path: Path, moto_s3: Any
) -> None:
    seen: dict[str, Any] = {}

    def reader(box: FakeContainer) -> int:
        if box.spec.credentials_folder is not None:
            folder = Path(box.spec.credentials_folder)
            seen["served"] = json.loads((folder / CREDENTIALS_FILE).read_text())
            seen["mounted"] = [m.source for m in box.spec.mounts]
        return 0

    moto_s3.create_bucket(Bucket="in-data")
    moto_s3.put_object(Bucket="in-data", Key="d/rows.csv", Body=b"1\n")
    req = request(tmp_path)
    req["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = "s3://in-data/d/"
    job = TrainingRun(Spec(req, LocalOptions(assume_role=True), tmp_path), RunContext(
        store=Store(tmp_path / "home"), backend=(backend := FakeBackend(
            tmp_path / "engine", {IMAGE: reader}, FakeClock()))))
    job.create()
    assert job.run()["TrainingJobStatus"] == "Completed"
    env, folder = backend.started[0].environment, backend.started[0].credentials_folder
    assert not set(env) & set(SECRET_ENV) and env[FULL_URI_ENV] == endpoint_url()
    assert seen["served"]["AccessKeyId"].startswith("ASIA") and seen["served"]["Token"]
    assert folder and not any(folder.startswith(source) for source in seen["mounted"])
    assert list(Path(folder).iterdir()) == []  # deleted with the job's end
    # with network isolation: no AWS at all, as the service
    req = {**req, "TrainingJobName": "isolated", "EnableNetworkIsolation": True}
    job = TrainingRun(Spec(req, LocalOptions(), tmp_path), RunContext(
        store=Store(tmp_path / "home2"), backend=backend))
    job.create()
    assert job.run()["TrainingJobStatus"] == "Completed"
    assert backend.started[-1].credentials_folder is None
    assert not any(name.startswith("AWS_") for name in backend.started[-1].environment)


def test_a_role_that_cannot_be_assumed_fails_the_job_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "long-term-secret")
    store = Store(tmp_path / "home")
    backend = FakeBackend(tmp_path / "engine", {IMAGE: algorithm}, FakeClock())
    aws = AwsClients(AwsConfig(endpoint_url="http://127.0.0.1:9", max_attempts=1,
                               region="us-east-1"))
    job = TrainingRun(Spec(request(tmp_path), LocalOptions(assume_role=True, cloudwatch=True),
                           tmp_path), RunContext(store=store, backend=backend, aws=aws))
    job.create()
    record = job.run()
    assert record["TrainingJobStatus"] == "Failed" and backend.started == []
    assert record["FailureReason"].startswith(
        "ClientError: cannot assume the job's RoleArn arn:aws:iam::123456789012:role/"
        "SageMakerRole (")


def resuming(box: FakeContainer) -> int:
    """Carries on from its checkpoint; saves one each epoch and on SIGTERM."""
    ckpt = box.path("/opt/ml/checkpoints") / "epoch.txt"
    epoch = int(ckpt.read_text()) if ckpt.exists() else 0
    box.print(f"starting at epoch {epoch + 1}")
    while epoch < 5:
        if box.sleep(60):
            box.print(f"SIGTERM at epoch {epoch}")
            return 143
        epoch += 1
        ckpt.write_text(str(epoch))
        box.print(f"epoch={epoch} loss={1 / epoch:.4f}")
    (box.path("/opt/ml/model") / "weights.txt").write_text("w")
    return 0


def test_a_rehearsed_spot_interruption_restarts_the_job_from_its_checkpoints(
    tmp_path: Path
) -> None:
    clock = FakeClock()
    backend = FakeBackend(tmp_path / "engine", {IMAGE: resuming}, clock)
    req = request(tmp_path)
    req["CheckpointConfig"] = {"S3Uri": f"file://{tmp_path / 'ckpt'}"}
    job = TrainingRun(Spec(req, LocalOptions(stop_grace_seconds=30, interruptions=(150.0,)),
                           tmp_path),
                      RunContext(store=Store(tmp_path / "home"), backend=backend, clock=clock))
    job.create()
    record = job.run()
    assert record["TrainingJobStatus"] == "Completed", record.get("FailureReason")
    assert [t["Status"] for t in record["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Interrupted", "Restarting", "Training",
        "Uploading", "Completed"]
    lines = [e.line for e in job.ctx.store.iter_logs("fake-job")]
    term = next(i for i, line in enumerate(lines) if line.startswith("SIGTERM at epoch "))
    done = int(lines[term].rsplit(" ", 1)[1])
    assert 1 <= done < 5 and lines[0] == "starting at epoch 1"
    assert lines[term + 1] == f"starting at epoch {done + 1}"  # its progress survived
    assert lines[-1] == "epoch=5 loss=0.2000"
    assert len(backend.started) == 2 and backend.running() == []
    assert record["BillableTimeInSeconds"] <= record["TrainingTimeInSeconds"]
    assert record["FinalMetricDataList"][0]["Value"] == pytest.approx(0.2)
    model = tmp_path / "output" / "fake-job" / "output" / "model.tar.gz"
    with tarfile.open(model) as tar:
        assert tar.getnames() == ["weights.txt"]
