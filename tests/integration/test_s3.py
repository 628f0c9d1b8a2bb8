"""S3 and CloudWatch end to end: real containers, and a moto server this test module starts
(conftest's ``moto_url``) on the Docker bridge's gateway, so the runner and the containers
both reach it."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.aws import cloudwatch as cw
from runner.aws.clients import AwsClients
from runner.core.archives import safe_extract
from runner.core.specs import LocalOptions, Spec
from runner.engines.docker.backend import DockerBackend
from runner.shapes.training_jobs import describe_training_job, to_json
from runner.store.jobs import Store
from runner.training import telemetry
from runner.training.context import RunContext
from runner.training.run import TrainingRun
from tests.integration.conftest import BUCKET, SECRET, report
from tests.integration.s3_jobs import keys, put, request, run, s3_channel


def log_lines(store: Store, name: str) -> list[str]:
    return [e.line for e in store.iter_logs(name)]


def test_every_file_channel_option_and_artifacts_in_s3(
    tmp_path: Path, store: Store, backend: DockerBackend, aws: AwsClients, test_label: str,
    data_dir: Path
) -> None:
    for i in range(6):
        put(aws, f"data/train/part-{i}.csv", f"{i},1,2\n")
    put(aws, "data/train/sub/deep.csv", "deep")
    put(aws, "data/fast/a.bin", b"\x00" * 1000)
    put(aws, "data/pool/x.csv", "x")
    put(aws, "data/pool/y.csv", "y")
    put(aws, "data/pool/z.csv", "not in the manifest")
    put(aws, "manifests/m.json",
        json.dumps([{"prefix": f"s3://{BUCKET}/data/pool/"}, "x.csv", "y.csv"]))
    channels = [
        s3_channel("train", f"s3://{BUCKET}/data/train"),
        s3_channel("fast", f"s3://{BUCKET}/data/fast/", InputMode="FastFile"),
        s3_channel("manifest", f"s3://{BUCKET}/manifests/m.json", S3DataType="ManifestFile"),
        s3_channel("sharded", f"s3://{BUCKET}/data/train/sub",
                   S3DataDistributionType="ShardedByS3Key"),
        s3_channel("local", f"file://{data_dir}/train"),  # file:// keeps working beside s3://
    ]
    job = run(request("s3-channels", {}, channels), store, backend, aws, test_label, tmp_path)
    assert job.record["TrainingJobStatus"] == "Completed", job.record.get("FailureReason")
    seen = report(store, "s3-channels")["channels"]
    assert ([f for f, _ in seen["train"]["files"]] == [f"part-{i}.csv" for i in range(6)]
            + ["sub/deep.csv"])
    assert seen["fast"]["files"] == [["a.bin", 1000]]
    assert seen["manifest"]["files"] == [["x.csv", 1], ["y.csv", 1]]
    assert seen["sharded"]["files"] == [["deep.csv", 4]]  # one host: its share is everything
    assert seen["local"]["files"] == [["a.csv", 6], ["sub/b.csv", 12]]
    # File mode: the instance's volume, the container's to change; FastFile: a read-only mount
    assert {name: c["writable"] for name, c in seen.items()} == {
        "train": True, "fast": False, "manifest": True, "sharded": True, "local": True}
    config = report(store, "s3-channels")["inputdataconfig"]
    assert config["fast"]["TrainingInputMode"] == "FastFile"
    assert config["sharded"]["S3DistributionType"] == "ShardedByS3Key"
    # artifacts where SageMaker puts them, and ModelArtifacts saying so
    model_uri = f"s3://{BUCKET}/output/s3-channels/output/model.tar.gz"
    assert describe_training_job(job.record)["ModelArtifacts"] == {"S3ModelArtifacts": model_uri}
    assert (keys(aws, "output/") == ["output/s3-channels/output/model.tar.gz",
                                     "output/s3-channels/output/output.tar.gz"])
    aws.s3().download_file(BUCKET, "output/s3-channels/output/model.tar.gz",
                           str(tmp_path / "model.tar.gz"))
    safe_extract(tmp_path / "model.tar.gz", tmp_path / "model")
    assert (tmp_path / "model" / "model.txt").read_text() == "model"
    # a second run of the same data downloads nothing: every object is cached by ETag
    again = run(request("s3-channels-2", {}, channels[:1]), store, backend, aws, test_label,
                tmp_path)
    assert again.data.staged[0].downloaded == 0 and again.data.staged[0].objects == 7


def test_pipe_mode_with_a_real_container(
    tmp_path: Path, store: Store, backend: DockerBackend, aws: AwsClients, test_label: str,
    data_dir: Path
) -> None:
    plain = [f"record {i}\n".encode() * 5000 for i in range(3)]
    for i, blob in enumerate(plain):
        put(aws, f"pipe/part-{i}.gz", gzip.compress(blob))
    channels = [
        s3_channel("piped", f"s3://{BUCKET}/pipe/", InputMode="Pipe", CompressionType="Gzip"),
        s3_channel("localpipe", f"file://{data_dir}/train", InputMode="Pipe"),
    ]
    hps = {"mode": "pipe", "channels": "piped,localpipe", "epochs": "3"}
    job = run(request("s3-pipe", hps, channels), store, backend, aws, test_label, tmp_path)
    assert job.record["TrainingJobStatus"] == "Completed", job.record.get("FailureReason")
    seen = report(store, "s3-pipe")["channels"]
    assert seen["piped_0"]["fifo"] and seen["localpipe_0"]["fifo"] and "piped" not in seen
    whole = b"".join(plain)
    local = ((data_dir / "train" / "a.csv").read_bytes()
             + (data_dir / "train" / "sub" / "b.csv").read_bytes())
    lines = [line for line in log_lines(store, "s3-pipe") if line.startswith("PROBE_PIPE ")]
    expected = []
    for epoch in range(3):
        expected.append(f"PROBE_PIPE channel=piped epoch={epoch} bytes={len(whole)} "
                        f"sha256={hashlib.sha256(whole).hexdigest()} fifo=true")
        expected.append(f"PROBE_PIPE channel=localpipe epoch={epoch} bytes={len(local)} "
                        f"sha256={hashlib.sha256(local).hexdigest()} fifo=true")
    assert lines == expected
    assert report(store, "s3-pipe")["inputdataconfig"]["piped"]["TrainingInputMode"] == "Pipe"


def test_pipe_reader_closing_early_gets_the_next_epoch(
    tmp_path: Path, store: Store, backend: DockerBackend, aws: AwsClients, test_label: str
) -> None:
    put(aws, "big/blob", b"z" * (3 * 1024 * 1024))
    hps = {"mode": "pipe", "channels": "train", "epochs": "2", "read_limit": "10"}
    job = run(request("s3-pipe-early", hps,
                      [s3_channel("train", f"s3://{BUCKET}/big/", InputMode="Pipe")]),
              store, backend, aws, test_label, tmp_path)
    assert job.record["TrainingJobStatus"] == "Completed", job.record.get("FailureReason")
    lines = [line for line in log_lines(store, "s3-pipe-early") if line.startswith("PROBE_PIPE ")]
    assert ([line.split()[2:4] for line in lines] == [["epoch=0", "bytes=10"],
                                                      ["epoch=1", "bytes=10"]])


def test_a_pipe_channel_that_cannot_be_read_fails_the_job(
    tmp_path: Path, store: Store, backend: DockerBackend, aws: AwsClients, test_label: str
) -> None:
    put(aws, "notgz/part", "this is not gzip data")
    channel = s3_channel("train", f"s3://{BUCKET}/notgz/", InputMode="Pipe", CompressionType="Gzip")
    job = run(request("s3-pipe-bad", {"mode": "pipe", "epochs": "2"}, [channel]), store, backend,
              aws, test_label, tmp_path)
    assert job.record["TrainingJobStatus"] == "Failed"
    assert job.record["FailureReason"].startswith(
        "ClientError: Pipe mode channel 'train', epoch 0: Error -3 while decompressing")


def test_a_hostile_key_fails_the_job_and_writes_nothing(
    tmp_path: Path, store: Store, backend: DockerBackend, aws: AwsClients, test_label: str
) -> None:
    put(aws, "evil/fine.csv", "fine")
    put(aws, "evil/../../../../tmp/pwned-by-smlocal-test", "pwned")
    job = run(request("s3-evil", {}, [s3_channel("train", f"s3://{BUCKET}/evil/")]), store, backend,
              aws, test_label, tmp_path)
    assert job.record["TrainingJobStatus"] == "Failed"
    assert job.record["FailureReason"].startswith(
        "ClientError: channel 'train': key 'evil/../../../../tmp/pwned-by-smlocal-test' "
        "contains a '..'")
    # never started
    assert "Training" not in [t["Status"] for t in job.record["SecondaryStatusTransitions"]]
    assert not (store.home / "jobs" / "s3-evil" / "algo-1" / "input" / "data" / "train").exists()
    assert not Path("/tmp/pwned-by-smlocal-test").exists() and not list(tmp_path.rglob("pwned*"))


def test_checkpoints_round_trip_and_resume(
    tmp_path: Path, store: Store, backend: DockerBackend, aws: AwsClients, test_label: str,
    data_dir: Path
) -> None:
    put(aws, "ckpt/run/seeded.txt", "from before")
    ckpt = {"S3Uri": f"s3://{BUCKET}/ckpt/run", "LocalPath": "/opt/ml/checkpoints"}
    channels = [s3_channel("local", f"file://{data_dir}/train")]
    first = run(request("s3-ckpt-1", {"checkpoint": "first.txt"}, channels, CheckpointConfig=ckpt),
                store, backend, aws, test_label, tmp_path)
    assert first.record["TrainingJobStatus"] == "Completed", first.record.get("FailureReason")
    assert report(store, "s3-ckpt-1")["checkpoint_files"] == [["seeded.txt", 11]]
    assert keys(aws, "ckpt/") == ["ckpt/run/first.txt", "ckpt/run/seeded.txt"]
    # the same checkpoint URI again: the job starts from what the first one left
    second = run(request("s3-ckpt-2", {"checkpoint": "second.txt"}, channels,
                         CheckpointConfig=ckpt),
                 store, backend, aws, test_label, tmp_path)
    assert second.record["TrainingJobStatus"] == "Completed"
    assert ([f for f, _ in report(store, "s3-ckpt-2")["checkpoint_files"]]
            == ["first.txt", "seeded.txt"])
    assert (keys(aws, "ckpt/") == ["ckpt/run/first.txt", "ckpt/run/second.txt",
                                   "ckpt/run/seeded.txt"])


def test_checkpoints_sync_while_the_container_runs(
    tmp_path: Path, store: Store, backend: DockerBackend, aws: AwsClients, test_label: str,
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runner.training.checkpoints

    monkeypatch.setattr(runner.training.checkpoints, "DEFAULT_INTERVAL", 0.2)
    ckpt = {"S3Uri": f"s3://{BUCKET}/live"}
    req = request("s3-ckpt-live", {"checkpoint": "early.txt", "mode": "sleep", "seconds": "3"},
                  [s3_channel("local", f"file://{data_dir}/train")], CheckpointConfig=ckpt)
    spec = Spec(request=req, local=LocalOptions(stop_grace_seconds=5), base_dir=tmp_path)
    job = TrainingRun(spec, RunContext(store=store, backend=backend, aws=aws,
                                       extra_labels={"smlocal.test": test_label}))
    job.create()
    seen_while_running: list[list[str]] = []
    original = job._supervise

    def supervise(cid: str, since: float | None) -> Any:
        import threading
        import time

        def watch() -> None:
            deadline = time.time() + 2.5
            while time.time() < deadline and not seen_while_running:
                found = keys(aws, "live/")
                if found:
                    seen_while_running.append(found)
                time.sleep(0.1)

        threading.Thread(target=watch, daemon=True).start()
        return original(cid, since)

    job._supervise = supervise  # type: ignore[method-assign]
    job.run()
    assert job.record["TrainingJobStatus"] == "Completed"
    assert seen_while_running == [["live/early.txt"]]


def test_cloudwatch_logs_of_a_chatty_container(
    tmp_path: Path, store: Store, backend: DockerBackend, aws: AwsClients, test_label: str,
    data_dir: Path
) -> None:
    calls: list[int] = []

    def check(params: dict[str, Any], **kwargs: Any) -> None:
        events = params["logEvents"]
        calls.append(len(events))
        assert 1 <= len(events) <= 10_000
        assert sum(len(e["message"].encode()) + 26 for e in events) <= 1_048_576
        assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)

    aws.logs().meta.events.register("provide-client-params.logs.PutLogEvents", check)
    count = 200_000
    req = request("s3-chatty", {"mode": "chatty", "count": str(count)}, [s3_channel("local", f"file://{data_dir}/train")],
                  OutputDataConfig={"S3OutputPath": f"file://{tmp_path}/out"})
    job = run(req, store, backend, aws, test_label, tmp_path, cloudwatch=True)
    assert job.record["TrainingJobStatus"] == "Completed"
    training = next(t
                    for t in job.record["SecondaryStatusTransitions"] if t["Status"] == "Training")
    stream = f"s3-chatty/algo-1-{int(training['StartTime'])}"
    assert cw.job_streams(aws.logs(), "s3-chatty") == [stream]
    shipped = [m for _, m in cw.read_stream(aws.logs(), stream)]
    stored = [line for line in log_lines(store, "s3-chatty") if line]
    assert len(shipped) == len(stored) >= count + 1  # the report line and every chatty line
    assert sorted(shipped) == sorted(stored)
    assert len(calls) >= count // 10_000 and sum(calls) == len(shipped)


def test_cloudwatch_metrics_instance_metrics_and_redaction(
    tmp_path: Path, store: Store, backend: DockerBackend, aws: AwsClients, test_label: str,
    data_dir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(telemetry, "DEFAULT_SAMPLE_SECONDS", 0.3)
    lines = ([f"loss={1.0 / (i + 1):.4f}" for i in range(30)]
             + ["aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCY"])
    hps = {"mode": "metrics", "lines": json.dumps(lines), "interval": "0.1",
           "echo_env": "AWS_SECRET_ACCESS_KEY,AWS_ACCESS_KEY_ID,AWS_ENDPOINT_URL,AWS_REGION"}
    job = run(request("s3-metrics", hps, [s3_channel("local", f"file://{data_dir}/train")]),
              store, backend, aws, test_label, tmp_path, cloudwatch=True)
    assert job.record["TrainingJobStatus"] == "Completed", job.record.get("FailureReason")
    metrics = aws.cloudwatch().list_metrics(Namespace=cw.NAMESPACE)["Metrics"]
    by_name = {(m["MetricName"], tuple((d["Name"], d["Value"]) for d in m["Dimensions"]))
               for m in metrics}
    assert ("train:loss", (("TrainingJobName", "s3-metrics"),)) in by_name
    assert ("CPUUtilization", (("Host", "s3-metrics/algo-1"),)) in by_name
    assert ("MemoryUtilization", (("Host", "s3-metrics/algo-1"),)) in by_name
    stats = aws.cloudwatch().get_metric_statistics(
        Namespace=cw.NAMESPACE, MetricName="train:loss",
        Dimensions=[{"Name": "TrainingJobName", "Value": "s3-metrics"}],
        StartTime=job.record["CreationTime"] - 60, EndTime=job.record["TrainingEndTime"] + 60,
        Period=3600, Statistics=["SampleCount", "Minimum"],
    )["Datapoints"]
    assert (sum(p["SampleCount"] for p in stats) == 30
            and min(p["Minimum"] for p in stats) == pytest.approx(1 / 30, abs=1e-4))
    assert job.record["FinalMetricDataList"][0]["Value"] == pytest.approx(1 / 30, abs=1e-4)
    # the container got the runner's AWS, its credentials from an endpoint and not its
    # environment; no credential is written anywhere
    echoed = report(store, "s3-metrics")["echo_env"]
    assert echoed["AWS_ACCESS_KEY_ID"] is None and echoed["AWS_SECRET_ACCESS_KEY"] is None
    assert echoed["AWS_REGION"] == "us-east-1"
    assert echoed["AWS_ENDPOINT_URL"] == aws.config.endpoint_url
    stream = cw.job_streams(aws.logs(), "s3-metrics")[0]
    shipped = "\n".join(m for _, m in cw.read_stream(aws.logs(), stream))
    stored = "\n".join(log_lines(store, "s3-metrics"))
    described = to_json(describe_training_job(job.record))
    for text in (shipped, stored, described, json.dumps(job.record)):
        assert SECRET not in text and "IOSFODNN7EXAMPLE" not in text
    assert "wJalrXUtnFEMI" not in shipped + stored and "aws_secret_access_key=****" in shipped


def test_the_container_reaches_the_endpoint(
    tmp_path: Path, store: Store, backend: DockerBackend, aws: AwsClients, test_label: str,
    data_dir: Path
) -> None:
    put(aws, "reach/x", "x")
    job = run(request("s3-fetch", {"mode": "fetch"}, [s3_channel("train", f"s3://{BUCKET}/reach/")]),
              store, backend, aws, test_label, tmp_path)
    assert job.record["TrainingJobStatus"] == "Completed"
    assert any(line.startswith("PROBE_FETCH status=") for line in log_lines(store, "s3-fetch"))


def test_file_jobs_make_no_aws_calls(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3.session

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a file:// job built an AWS session")

    monkeypatch.setattr(boto3.session.Session, "__init__", refuse)
    req = request("file-only", {}, [s3_channel("train", f"file://{data_dir}/train")],
                  OutputDataConfig={"S3OutputPath": f"file://{tmp_path}/out"},
                  CheckpointConfig={"S3Uri": f"file://{tmp_path}/ckpt"})
    ctx = RunContext(store=store, backend=backend, extra_labels={"smlocal.test": test_label})
    job = TrainingRun(Spec(req, LocalOptions(stop_grace_seconds=5), tmp_path), ctx)
    job.create()
    job.run()
    assert job.record["TrainingJobStatus"] == "Completed" and ctx.aws is None
    assert "AWS_ACCESS_KEY_ID" not in json.dumps(report(store, "file-only")["env"])


def test_cli_runs_a_cloud_request_unchanged(
    tmp_path: Path, aws: AwsClients, moto_url: str, test_label: str, data_dir: Path
) -> None:
    for i in range(3):
        put(aws, f"cli/train/{i}.csv", f"{i}\n")
    req = request("cli-s3", {"mode": "metrics", "lines": json.dumps(["loss=0.5"])},
                  [s3_channel("train", f"s3://{BUCKET}/cli/train")],
                  RoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
                  ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                  "VolumeSizeInGB": 1})
    spec_file = tmp_path / "request.yaml"
    spec_file.write_text(yaml.safe_dump(req))
    home = tmp_path / "cli-home"
    smlocal = [sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(home),
               "--endpoint-url", moto_url]
    validated = subprocess.run(
        [*smlocal, "validate", str(spec_file), "--for-cloud", "--no-image-check"],
        capture_output=True, text=True)
    assert validated.returncode == 0, validated.stderr  # the very request the cloud takes
    trained = subprocess.run(
        [*smlocal, "train", str(spec_file), "--cloudwatch", "--quiet", "--grace", "5"],
        capture_output=True, text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr
    assert f"model: s3://{BUCKET}/output/cli-s3/output/model.tar.gz" in trained.stderr
    logs = subprocess.run([*smlocal, "logs", "cli-s3", "--cloudwatch"], capture_output=True,
                          text=True, timeout=60)
    assert logs.returncode == 0 and "loss=0.5" in logs.stdout.splitlines()
    with tarfile.open(fileobj=aws.s3().get_object(Bucket=BUCKET,
                                                  Key="output/cli-s3/output/output.tar.gz")["Body"],
                      mode="r|gz") as tar:
        assert [m.name for m in tar] == ["extra.txt"]
