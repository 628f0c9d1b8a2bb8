"""``tune --rehearse`` over the fake engine: a trial per corner, each told apart (ok, crashed,
out of memory, NaN, too slow), recorded as jobs of their own and never the tuning job's."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from runner.api.errors import ValidationException
from runner.api.service import Service
from runner.core.specs import LocalOptions, Spec
from runner.engines.fake import FakeBackend, FakeContainer, OutOfMemory
from runner.tuning import corners as c

IMAGE = "fake/tunable:1"


def program(box: FakeContainer) -> int:
    hps = box.hyperparameters()
    batch, lr = int(hps["batch"]), float(hps["lr"])
    if hps["act"] == "bad":
        raise ValueError("unknown activation 'bad'")
    if batch >= 4096:
        raise OutOfMemory()
    if hps["act"] == "slow":
        box.sleep(3600)
        return 0
    loss = math.nan if lr >= 1 else lr
    for _ in range(100):
        box.print(f"loss={loss}")
        if box.sleep(0.2):  # stopped at its first objective value
            return 143
    return 0


def tuning_request(tmp_path: Path, values: list[str]) -> dict[str, Any]:
    return {
        "HyperParameterTuningJobName": "tj",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 10, "MaxParallelTrainingJobs": 1},
            "ParameterRanges": {
                "IntegerParameterRanges": [{"Name": "batch", "MinValue": "16",
                                            "MaxValue": "4096"}],
                "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.001",
                                               "MaxValue": "1"}],
                "CategoricalParameterRanges": [{"Name": "act", "Values": values}]}},
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File",
                                       "MetricDefinitions": [{"Name": "loss",
                                                              "Regex": "loss=(\\S+)"}]},
            "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
            "OutputDataConfig": {"S3OutputPath": "s3://never-used/out"},
            "CheckpointConfig": {"S3Uri": "s3://never-used/ckpt"},
            "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1,
                               "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600}},
    }


@pytest.fixture
def service(tmp_path: Path) -> Service:
    engine = FakeBackend(tmp_path / "engine", {IMAGE: program})
    return Service(tmp_path / "home", engine=lambda home: engine)


def test_each_corner_is_told_apart(tmp_path: Path, service: Service) -> None:
    spec = Spec(tuning_request(tmp_path, ["relu", "tanh", "bad", "slow"]), LocalOptions(),
                tmp_path)
    found = service.rehearse(spec, seconds=2)
    assert [(r.hyperparameters, r.verdict) for r in found] == [
        ({"batch": "16", "lr": "0.001", "act": "relu"}, c.OK),
        ({"batch": "4096", "lr": "1.0", "act": "tanh"}, c.OOM),
        ({"batch": "16", "lr": "0.001", "act": "bad"}, c.CRASHED),
        ({"batch": "4096", "lr": "1.0", "act": "slow"}, c.OOM),
    ]
    assert found[0].detail.startswith("objective 0.001 after ")
    assert "unknown activation 'bad'" in found[2].detail
    # trials of their own, stopped at the first objective value; no tuning job
    records = {r["TrainingJobName"]: r for r in service.store.list_training_jobs()}
    assert set(records) == {f"tj-rehearse-0{k}" for k in range(1, 5)}
    assert records["tj-rehearse-01"]["TrainingJobStatus"] == "Stopped"
    assert not any(r.get("TuningJobArn") for r in records.values())
    assert not service.tuning_jobs.exists("tj")


@pytest.mark.parametrize(("values", "expected"), [
    (["relu", "tanh"], [c.OK, c.NONFINITE]), (["slow"], [c.TOO_SLOW, c.TOO_SLOW])])
def test_nan_and_slow_corners(
    tmp_path: Path, service: Service, values: list[str], expected: list[str]
) -> None:
    request = tuning_request(tmp_path, values)
    request["HyperParameterTuningJobConfig"]["ParameterRanges"]["IntegerParameterRanges"][0][
        "MaxValue"] = "64"
    found = service.rehearse(Spec(request, LocalOptions(), tmp_path), seconds=1)
    assert [r.verdict for r in found] == expected


def test_a_bad_request_is_refused_before_any_trial(tmp_path: Path, service: Service) -> None:
    request = tuning_request(tmp_path, ["relu"])
    del request["TrainingJobDefinition"]["StoppingCondition"]
    with pytest.raises(ValidationException):
        service.rehearse(Spec(request, LocalOptions(), tmp_path), seconds=1)
    assert service.store.list_training_jobs() == []
