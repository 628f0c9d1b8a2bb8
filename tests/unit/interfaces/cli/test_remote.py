"""The CLI as a client of a running ``smlocal serve`` (runner/interfaces/cli/remote.py): the
same commands, exit codes and output as in-process, through a real server on the fake
engine."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.aws.cloudwatch import LOG_GROUP
from runner.contract.metrics import TAB_ESCAPE
from runner.interfaces.cli import remote
from runner.interfaces.cli.main import main
from tests.unit.interfaces.server.conftest import IMAGE, endpoint  # noqa: F401 (a fixture)


@pytest.fixture(autouse=True)
def _signal_handlers(keep_signal_handlers: None) -> None:
    """Every test here calls main(), which installs signal handlers (see conftest)."""


def request_file(folder: Path, name: str = "remote-1", **extra: Any) -> Path:
    (folder / "data").mkdir(exist_ok=True)
    (folder / "data" / "rows.csv").write_text("1\n")
    request = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File",
                                   "MetricDefinitions": [{"Name": "loss", "Regex": "loss=(\\S+)"}]},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "HyperParameters": {"epochs": "3"},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "file://data"}}}],
        "OutputDataConfig": {"S3OutputPath": "file://output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        **extra,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(request))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_describe_list_logs_through_the_server(
    endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(remote.ENDPOINT_ENV, endpoint)
    sub = tmp_path / "jobs"  # the request file's relative paths are relative to its folder
    sub.mkdir()
    code, out, err = run(capsys, "train", str(request_file(sub)))
    assert code == 0, err
    assert out.splitlines() == ["epoch=1 loss=5.0000", "epoch=2 loss=4.5000",
                                "epoch=3 loss=4.3333"]
    assert "smlocal: training job remote-1: Completed" in err
    assert "smlocal: loss = 4.3333" in err
    assert (sub / "output" / "remote-1" / "output" / "model.tar.gz").is_file()

    code, out, _ = run(capsys, "describe", "remote-1")
    described = json.loads(out)
    assert code == 0 and described["TrainingJobStatus"] == "Completed"
    assert described["CreationTime"].endswith("+00:00")  # ISO 8601, as in-process
    code, out, _ = run(capsys, "list")
    assert code == 0 and out.splitlines()[1].split()[:3] == ["remote-1", "Completed",
                                                            "Completed"]
    code, out, _ = run(capsys, "--endpoint", endpoint, "logs", "remote-1")
    assert code == 0 and out.splitlines()[-1] == "epoch=3 loss=4.3333"
    code, _, err = run(capsys, "train", str(request_file(sub)))
    assert code == 2 and "ResourceInUse: Training job remote-1 already exists" in err


def test_refusals_are_the_in_process_ones(
    endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    bad = request_file(tmp_path, "bad", ResourceConfig={"InstanceType": "ml.m5.large",
                                                        "InstanceCount": 0, "VolumeSizeInGB": 1})
    code, _, err = run(capsys, "--endpoint", endpoint, "train", str(bad))
    assert code == 2 and err.startswith("ResourceConfig.InstanceCount: ")
    code, _, err = run(capsys, "--endpoint", endpoint, "describe", "ghost")
    assert code == 2 and "ResourceNotFound" in err
    code, _, err = run(capsys, "--endpoint", endpoint, "train", str(request_file(tmp_path)),
                       "--gpus", "all")
    assert code == 2 and err.startswith("--gpus: is a local option")
    code, _, err = run(capsys, "--endpoint", endpoint, "tune", str(request_file(tmp_path)))
    assert code == 2 and "holds a CreateTrainingJob request" in err
    code, _, err = run(capsys, "--endpoint", "http://127.0.0.1:1", "list")
    assert code == 2 and err.startswith("--endpoint: no smlocal server answers at")
    code, _, err = run(capsys, "--endpoint", "ftp://x", "list")
    assert code == 2 and err.startswith("--endpoint: must be the http:// URL")


def test_local_build_is_refused_for_a_server_elsewhere_and_other_options_noted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    local = {"Build": {"Context": "."}, "StopGracePeriodSeconds": 5}
    spec = request_file(tmp_path, "far", Local=local)
    code, _, err = run(capsys, "--endpoint", "http://192.0.2.1:8899", "train", str(spec))
    assert code == 2
    assert "Local.StopGracePeriodSeconds: not applied" in err
    assert "Local.Build: builds images on this machine" in err


def test_a_tuning_job_through_the_server(
    endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    definition = yaml.safe_load(request_file(tmp_path, "unused").read_text())
    for key in ("TrainingJobName", "HyperParameters"):
        definition.pop(key)
    definition["StaticHyperParameters"] = {"epochs": "2"}
    spec = tmp_path / "tuning.yaml"
    spec.write_text(yaml.safe_dump({
        "HyperParameterTuningJobName": "remote-tuning",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {"ContinuousParameterRanges": [
                {"Name": "x", "MinValue": "0", "MaxValue": "6"}]}},
        "TrainingJobDefinition": definition}))
    code, _, err = run(capsys, "--endpoint", endpoint, "tune", str(spec))
    assert code == 0, err
    assert "smlocal: tuning job remote-tuning: Completed (Completed 3)" in err
    assert sum(line.endswith(tuple("0123456789")) and ": Completed loss = " in line
               for line in err.splitlines()) == 3
    assert "smlocal: best: remote-tuning-" in err
    code, out, _ = run(capsys, "--endpoint", endpoint, "describe", "remote-tuning")
    assert code == 0 and json.loads(out)["HyperParameterTuningJobStatus"] == "Completed"


def test_ctrl_c_stops_the_job_on_the_server(
    endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = request_file(tmp_path, "interrupted")
    data = yaml.safe_load(spec.read_text())
    data["HyperParameters"] = {"epochs": "100000", "pause": "0.05"}
    spec.write_text(yaml.safe_dump(data))
    polls = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(remote.time, "sleep", sleep)
    code, _, err = run(capsys, "--endpoint", endpoint, "train", str(spec), "--quiet")
    assert code == 130 and f"smlocal: interrupted: {endpoint} stops interrupted" in err
    monkeypatch.undo()
    code, _, err = run(capsys, "--endpoint", endpoint, "stop", "interrupted")  # waits for it
    assert code == 0 and "smlocal: training job interrupted: Stopped" in err


def test_ctrl_c_inside_a_request_still_stops_the_job_and_long_names_are_found(
    endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch
) -> None:
    name = "a-training-job-name-longer-than-32-characters"  # (no tuning job may have it)
    spec = request_file(tmp_path, name)
    data = yaml.safe_load(spec.read_text())
    data["HyperParameters"] = {"epochs": "100000", "pause": "0.05"}
    spec.write_text(yaml.safe_dump(data))
    real = http.client.HTTPConnection.getresponse
    calls = []

    def getresponse(self: http.client.HTTPConnection) -> http.client.HTTPResponse:
        calls.append(1)
        if len(calls) == 4:  # a poll's request sent, its answer not yet read
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(http.client.HTTPConnection, "getresponse", getresponse)
    code, _, err = run(capsys, "--endpoint", endpoint, "train", str(spec), "--quiet")
    assert code == 130 and f"stops {name}" in err
    monkeypatch.undo()
    code, _, err = run(capsys, "--endpoint", endpoint, "stop", name)
    assert code == 0 and f"smlocal: training job {name}: Stopped" in err
    code, out, _ = run(capsys, "--endpoint", endpoint, "describe", name)
    assert code == 0 and json.loads(out)["TrainingJobName"] == name


def test_the_clients_names_are_the_services() -> None:
    assert remote.LOG_GROUP == LOG_GROUP and remote.TAB_ESCAPE == TAB_ESCAPE
