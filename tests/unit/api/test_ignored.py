"""Settings smlocal accepts and does not emulate (runner/api/ignored.py): one note each, never
silence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.api.ignored import NOT_EMULATED, ignored_settings
from runner.api.service import Service
from runner.core.specs import spec_from_dict
from runner.engines.fake import FakeBackend


def training(**extra: Any) -> dict[str, Any]:
    return {"TrainingJobName": "t", "AlgorithmSpecification": {"TrainingImage": "fake/algo",
                                                               "TrainingInputMode": "File"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                               "VolumeSizeInGB": 1}, **extra}


def paths(request: dict[str, Any]) -> list[str]:
    return [p.path for p in ignored_settings(request)]


def test_each_setting_given_gets_one_note_with_its_path() -> None:
    request = training(DebugRuleConfigurations=[{"RuleConfigurationName": "r"}],
                       TensorBoardOutputConfig={"S3OutputPath": "s3://b/tb"},
                       RetryStrategy={"MaximumRetryAttempts": 2},
                       EnableManagedSpotTraining=False)
    request["ResourceConfig"]["KeepAlivePeriodInSeconds"] = 600
    request["AlgorithmSpecification"]["EnableSageMakerMetricsTimeSeries"] = True
    assert paths(request) == [
        "DebugRuleConfigurations", "TensorBoardOutputConfig", "RetryStrategy",
        "AlgorithmSpecification.EnableSageMakerMetricsTimeSeries",
        "ResourceConfig.KeepAlivePeriodInSeconds"]
    assert ignored_settings(request)[1].message.startswith("not emulated: TensorBoard")
    assert paths(training()) == []  # (a False, an empty list: nothing asked)
    assert all(why and not why.endswith(".") for why in NOT_EMULATED.values())


def test_a_tuning_definitions_retries_are_emulated_its_profiler_is_not() -> None:
    definition = {"AlgorithmSpecification": {}, "RetryStrategy": {"MaximumRetryAttempts": 1},
                  "ProfilerConfig": {"S3OutputPath": "s3://b/p"}}
    assert paths({"HyperParameterTuningJobName": "h", "TrainingJobDefinition": definition}) == [
        "TrainingJobDefinition.ProfilerConfig"]
    assert paths({"HyperParameterTuningJobName": "h",
                  "TrainingJobDefinitions": [{}, definition]}) == [
        "TrainingJobDefinitions[1].ProfilerConfig"]


def test_validate_and_create_say_them(tmp_path: Path) -> None:
    told: list[str] = []
    service = Service(tmp_path / "home", notify=told.append,
                      engine=lambda home: FakeBackend(home / "engine", {"fake/algo": lambda b: 0}))
    request = training(ProfilerConfig={"S3OutputPath": "s3://b/p"},
                       RoleArn="arn:aws:iam::123456789012:role/R",
                       OutputDataConfig={"S3OutputPath": f"file://{tmp_path / 'out'}"},
                       StoppingCondition={"MaxRuntimeInSeconds": 60})
    spec = spec_from_dict(request, tmp_path)
    assert [w.path for w in service.validate(spec, False, False).warnings] == ["ProfilerConfig"]
    service.training_jobs.create_training_job(spec)
    assert told == ["training job t: ProfilerConfig: not emulated: no system or framework "
                    "metrics are collected"]
