"""Tests for runner.tuning.trial_jobs: a tuning request's definitions and its trials'
CreateTrainingJob requests (which must be valid CreateTrainingJob requests in botocore's model)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from runner.api import validation
from runner.core.specs import spec_from_dict
from runner.shapes import model as schema
from runner.tuning import trial_jobs

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
METRIC = "validation:total_loss"
TUNED = {"mini_batch_size": "64", "learning_rate": "0.001", "optimizer": "adam"}
HEX8 = re.compile(r"[0-9a-f]{8}")


def cloud_definition(**extra: Any) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "StaticHyperParameters": {"epochs": "3", "num_topics": "20"},
        "AlgorithmSpecification": {
            "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/ntm:1",
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": METRIC, "Regex": r"total_loss=(\S+)"}],
        },
        "RoleArn": ROLE,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                "S3Uri": "s3://bucket/train"}},
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1,
                           "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    definition.update(extra)
    return definition


def tuning_request(
    definition: dict[str, Any] | None = None, name: str = "ntm-tune"
) -> dict[str, Any]:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": METRIC},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "IntegerParameterRanges": [{"Name": "mini_batch_size", "MinValue": "16",
                                            "MaxValue": "2048"}],
                "ContinuousParameterRanges": [
                    {"Name": "learning_rate", "MinValue": "0.0001", "MaxValue": "0.1",
                     "ScalingType": "Logarithmic"}
                ],
                "CategoricalParameterRanges": [{"Name": "optimizer",
                                                "Values": ["sgd", "adam", "adadelta"]}],
            },
            "TrainingJobEarlyStoppingType": "Off",
        },
        "TrainingJobDefinition": definition if definition is not None else cloud_definition(),
    }


# --- definitions / objective / parameter_ranges ---------------------------------------------


def test_definitions_single_definition_default_name() -> None:
    request = tuning_request()
    found = trial_jobs.definitions(request)
    assert (found == [("training-job-definition", "TrainingJobDefinition",
                       request["TrainingJobDefinition"])])
    assert found[0][2] is request["TrainingJobDefinition"]


def test_definitions_single_definition_keeps_its_name() -> None:
    request = tuning_request(cloud_definition(DefinitionName="ntm"))
    assert ([(n, p) for n, p, _ in trial_jobs.definitions(request)]
            == [("ntm", "TrainingJobDefinition")])


def test_definitions_several_named_and_unnamed() -> None:
    request = tuning_request()
    first, second, third = (cloud_definition(DefinitionName="a"), cloud_definition(),
                            cloud_definition(DefinitionName="c"))
    request["TrainingJobDefinitions"] = [first, second, third]
    del request["TrainingJobDefinition"]
    found = trial_jobs.definitions(request)
    assert [(n, p) for n, p, _ in found] == [
        ("a", "TrainingJobDefinitions[0]"),
        ("definition-2", "TrainingJobDefinitions[1]"),
        ("c", "TrainingJobDefinitions[2]"),
    ]
    assert [d for _, _, d in found] == [first, second, third]


def test_definitions_prefers_the_list_and_none_gives_empty() -> None:
    request = tuning_request()
    request["TrainingJobDefinitions"] = [cloud_definition(DefinitionName="only")]
    assert [n for n, _, _ in trial_jobs.definitions(request)] == ["only"]
    assert trial_jobs.definitions({"HyperParameterTuningJobConfig": {}}) == []
    assert (trial_jobs.definitions({"HyperParameterTuningJobConfig": {},
                                    "TrainingJobDefinitions": []}) == [])


def test_objective_falls_back_to_the_job_objective() -> None:
    request = tuning_request()
    assert (trial_jobs.objective(request, request["TrainingJobDefinition"])
            == {"Type": "Minimize", "MetricName": METRIC})


def test_objective_of_the_definition_wins_and_is_a_copy() -> None:
    own = {"Type": "Maximize", "MetricName": "validation:accuracy"}
    definition = cloud_definition(TuningObjective=own)
    request = tuning_request(definition)
    got = trial_jobs.objective(request, definition)
    assert got == own
    got["MetricName"] = "changed"
    assert own["MetricName"] == "validation:accuracy"


def test_objective_missing_everywhere_is_empty() -> None:
    request = tuning_request()
    del request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
    assert trial_jobs.objective(request, request["TrainingJobDefinition"]) == {}


def test_parameter_ranges_fallback_and_override() -> None:
    request = tuning_request()
    job_ranges = request["HyperParameterTuningJobConfig"]["ParameterRanges"]
    assert trial_jobs.parameter_ranges(request, request["TrainingJobDefinition"]) == job_ranges
    own = {"CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["sgd"]}]}
    definition = cloud_definition(HyperParameterRanges=own)
    assert trial_jobs.parameter_ranges(request, definition) == own
    del request["HyperParameterTuningJobConfig"]["ParameterRanges"]
    assert trial_jobs.parameter_ranges(request, request["TrainingJobDefinition"]) == {}


@pytest.mark.parametrize("definitions, single, names", [
    ("abc", None, []),
    ({"a": {}}, None, []),
    ([1, None, {"DefinitionName": ["x"]}, "x"], None,
     [("definition-3", "TrainingJobDefinitions[2]")]),
    (None, -1, []),
    (None, [{}], []),
    (None, {}, [("training-job-definition", "TrainingJobDefinition")]),
])
def test_definitions_of_the_wrong_shape_are_left_out(
    definitions: Any, single: Any, names: list[tuple[str, str]]
) -> None:
    request: dict[str, Any] = {"HyperParameterTuningJobConfig": {}}
    if definitions is not None:
        request["TrainingJobDefinitions"] = definitions
    if single is not None:
        request["TrainingJobDefinition"] = single
    assert [(n, p) for n, p, _ in trial_jobs.definitions(request)] == names


@pytest.mark.parametrize(
    "config", [{"HyperParameterTuningJobObjective": "x", "ParameterRanges": ["x"]}, "config", None])
def test_objective_and_ranges_that_are_no_mappings_are_empty(config: Any) -> None:
    request: dict[str, Any] = {"HyperParameterTuningJobConfig": config}
    assert trial_jobs.objective(request, {"TuningObjective": [("Type", "Minimize")]}) == {}
    assert trial_jobs.parameter_ranges(request, {"HyperParameterRanges": "x"}) == {}
    assert trial_jobs.objective(request, {}) == {}
    assert trial_jobs.parameter_ranges(request, {}) == {}


# --- trial_job_name ---------------------------------------------------------------------------


def test_trial_job_name_format_and_determinism() -> None:
    name = trial_jobs.trial_job_name("ntm-tune", 7)
    prefix, token = name.rsplit("-", 1)
    assert prefix == "ntm-tune-007"
    assert HEX8.fullmatch(token)
    assert trial_jobs.trial_job_name("ntm-tune", 7) == name
    assert trial_jobs.trial_job_name("ntm-tune", 7, attempt=0) == name


def test_trial_job_name_differs_by_attempt_number_and_job() -> None:
    names = {
        trial_jobs.trial_job_name("ntm-tune", 7, attempt=0),
        trial_jobs.trial_job_name("ntm-tune", 7, attempt=1),
        trial_jobs.trial_job_name("ntm-tune", 7, attempt=2),
        trial_jobs.trial_job_name("ntm-tune", 8),
        trial_jobs.trial_job_name("ntm-tune2", 7),
    }
    assert len(names) == 5
    assert trial_jobs.trial_job_name("ntm-tune", 7, attempt=1).startswith("ntm-tune-007-")
    assert trial_jobs.trial_job_name("t", 1234).startswith("t-1234-")


def test_trial_job_name_fits_the_training_job_name_shape() -> None:
    tuning = "a" * 31 + "9"  # the longest HyperParameterTuningJobName
    for number, attempt in [(1, 0), (999, 3), (9999, 0)]:
        name = trial_jobs.trial_job_name(tuning, number, attempt)
        assert len(name) <= 63
        minimal = {
            "TrainingJobName": name,
            "AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "File"},
            "RoleArn": ROLE,
            "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1,
                               "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        }
        assert schema.validate_request(minimal, "CreateTrainingJob") == []
    assert len(trial_jobs.trial_job_name(tuning, 1)) == 32 + 1 + 3 + 1 + 8


# --- trial_request ----------------------------------------------------------------------------


def test_trial_request_hyperparameters() -> None:
    request = tuning_request()
    out = trial_jobs.trial_request(request, request["TrainingJobDefinition"], TUNED,
                                   "ntm-tune-001-0123abcd")
    assert out["TrainingJobName"] == "ntm-tune-001-0123abcd"
    assert out["HyperParameters"] == {
        "epochs": "3",
        "num_topics": "20",
        "mini_batch_size": "64",
        "learning_rate": "0.001",
        "optimizer": "adam",
        "_tuning_objective_metric": METRIC,
    }
    assert trial_jobs.OBJECTIVE_HYPERPARAMETER == "_tuning_objective_metric"


def test_trial_request_tuned_values_override_static_ones_and_objective_is_the_definitions() -> None:
    definition = cloud_definition(TuningObjective={"Type": "Maximize",
                                                   "MetricName": "validation:acc"})
    definition["StaticHyperParameters"]["optimizer"] = "sgd"
    out = trial_jobs.trial_request(tuning_request(definition), definition, {"optimizer": "adam"},
                                   "j-001-00000000")
    assert out["HyperParameters"]["optimizer"] == "adam"
    assert out["HyperParameters"]["_tuning_objective_metric"] == "validation:acc"


def test_trial_request_without_static_hyperparameters() -> None:
    definition = cloud_definition()
    del definition["StaticHyperParameters"]
    out = trial_jobs.trial_request(tuning_request(definition), definition, {"optimizer": "sgd"},
                                   "j-001-00000000")
    assert out["HyperParameters"] == {"optimizer": "sgd", "_tuning_objective_metric": METRIC}


def test_trial_request_passes_fields_through_as_deep_copies() -> None:
    definition = cloud_definition(
        VpcConfig={"SecurityGroupIds": ["sg-0123abcd"], "Subnets": ["subnet-0123abcd"]},
        EnableNetworkIsolation=True,
        EnableInterContainerTrafficEncryption=True,
        EnableManagedSpotTraining=False,
        RetryStrategy={"MaximumRetryAttempts": 2},
        Environment={"MODE": "tune"},
        DefinitionName="ntm",
        TuningObjective={"Type": "Minimize", "MetricName": METRIC},
        HyperParameterRanges={"CategoricalParameterRanges": [{"Name": "optimizer",
                                                              "Values": ["sgd", "adam"]}]},
    )
    definition["AlgorithmSpecification"]["AlgorithmName"] = "some-algorithm"  # passed on as given
    request = tuning_request(definition)
    out = trial_jobs.trial_request(request, definition, {"optimizer": "adam"},
                                   "ntm-tune-001-0123abcd")
    for key in (
        "RoleArn", "InputDataConfig", "VpcConfig", "OutputDataConfig", "ResourceConfig",
        "StoppingCondition", "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption",
        "EnableManagedSpotTraining", "RetryStrategy", "Environment",
    ):
        assert out[key] == definition[key], key
    assert out["AlgorithmSpecification"] == definition["AlgorithmSpecification"]
    # the tuning-only fields stay out of the training request
    for key in ("DefinitionName", "TuningObjective", "HyperParameterRanges",
                "StaticHyperParameters"):
        assert key not in out
    assert set(out) == {
        "TrainingJobName", "AlgorithmSpecification", "HyperParameters", "RoleArn",
        "InputDataConfig", "VpcConfig",
        "OutputDataConfig", "ResourceConfig", "StoppingCondition", "EnableNetworkIsolation",
        "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining", "RetryStrategy",
        "Environment",
    }
    out["InputDataConfig"][0]["ChannelName"] = "changed"
    out["AlgorithmSpecification"]["MetricDefinitions"].append({"Name": "x", "Regex": "x"})
    assert definition["InputDataConfig"][0]["ChannelName"] == "train"
    assert len(definition["AlgorithmSpecification"]["MetricDefinitions"]) == 1


def test_trial_request_algorithm_specification_keeps_only_training_fields() -> None:
    definition = cloud_definition()
    definition["AlgorithmSpecification"]["SomethingElse"] = "x"
    out = trial_jobs.trial_request(tuning_request(definition), definition, {}, "j-001-00000000")
    assert (set(out["AlgorithmSpecification"]) == {"TrainingImage", "TrainingInputMode",
                                                   "MetricDefinitions"})


def test_trial_request_checkpoint_folder_per_trial() -> None:
    for uri in ("s3://bucket/ckpt", "s3://bucket/ckpt/"):
        definition = cloud_definition(CheckpointConfig={"S3Uri": uri,
                                                        "LocalPath": "/opt/ml/checkpoints"})
        out = trial_jobs.trial_request(tuning_request(definition), definition, {},
                                       "ntm-tune-002-deadbeef")
        assert out["CheckpointConfig"] == {
            "S3Uri": "s3://bucket/ckpt/ntm-tune-002-deadbeef",
            "LocalPath": "/opt/ml/checkpoints",
        }
        assert definition["CheckpointConfig"]["S3Uri"] == uri
    other = trial_jobs.trial_request(tuning_request(definition), definition, {},
                                     "ntm-tune-003-cafebabe")
    assert other["CheckpointConfig"]["S3Uri"] == "s3://bucket/ckpt/ntm-tune-003-cafebabe"
    assert "CheckpointConfig" not in trial_jobs.trial_request(tuning_request(), cloud_definition(),
                                                              {}, "j-001-00000000")


def test_trial_request_resource_config_from_tuning_resource_config() -> None:
    definition = cloud_definition(
        HyperParameterTuningResourceConfig={"InstanceType": "ml.c5.xlarge", "InstanceCount": 1,
                                            "VolumeSizeInGB": 30}
    )
    del definition["ResourceConfig"]
    out = trial_jobs.trial_request(tuning_request(definition), definition, {}, "j-001-00000000")
    assert (out["ResourceConfig"] == {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1,
                                      "VolumeSizeInGB": 30})
    assert "HyperParameterTuningResourceConfig" not in out


def test_trial_request_resource_config_defaults() -> None:
    definition = cloud_definition(
        HyperParameterTuningResourceConfig={"InstanceType": "ml.c5.xlarge"})
    del definition["ResourceConfig"]
    out = trial_jobs.trial_request(tuning_request(definition), definition, {}, "j-001-00000000")
    assert (out["ResourceConfig"] == {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1,
                                      "VolumeSizeInGB": 1})


def test_trial_request_resource_config_from_the_first_instance_config() -> None:
    definition = cloud_definition(
        HyperParameterTuningResourceConfig={
            "AllocationStrategy": "Prioritized",
            "VolumeKmsKeyId": "alias/my-key",
            "InstanceConfigs": [
                {"InstanceType": "ml.g4dn.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
                {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 20},
            ],
        }
    )
    del definition["ResourceConfig"]
    out = trial_jobs.trial_request(tuning_request(definition), definition, {}, "j-001-00000000")
    assert out["ResourceConfig"] == {
        "InstanceType": "ml.g4dn.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50,
        "VolumeKmsKeyId": "alias/my-key",
    }


def test_trial_request_resource_config_wins_over_tuning_resource_config() -> None:
    definition = cloud_definition(
        HyperParameterTuningResourceConfig={"InstanceType": "ml.c5.xlarge"})
    out = trial_jobs.trial_request(tuning_request(definition), definition, {}, "j-001-00000000")
    assert (out["ResourceConfig"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1,
                                      "VolumeSizeInGB": 10})


# --- the trial request is a CreateTrainingJob request ---------------------------------------


def full_cloud_definition() -> dict[str, Any]:
    return cloud_definition(
        CheckpointConfig={"S3Uri": "s3://bucket/checkpoints/"},
        RetryStrategy={"MaximumRetryAttempts": 1},
        Environment={"MODE": "tune"},
        EnableManagedSpotTraining=False,
        StoppingCondition={"MaxRuntimeInSeconds": 600, "MaxWaitTimeInSeconds": 1200},
    )


def test_the_tuning_request_is_valid_in_the_service_model() -> None:
    # guards the fixtures below: the source of the trial requests is itself valid
    request = tuning_request(full_cloud_definition(), name="a" * 32)
    assert schema.validate_request(request, "CreateHyperParameterTuningJob") == []


@pytest.mark.parametrize("number,attempt", [(1, 0), (42, 2), (750, 0)])
def test_trial_request_is_a_valid_create_training_job(number: int, attempt: int) -> None:
    request = tuning_request(full_cloud_definition(), name="a" * 32)
    name = trial_jobs.trial_job_name(request["HyperParameterTuningJobName"], number, attempt)
    out = trial_jobs.trial_request(request, request["TrainingJobDefinition"], TUNED, name)
    assert schema.validate_request(out, "CreateTrainingJob") == []


def test_trial_request_from_tuning_resource_config_is_valid() -> None:
    definition = full_cloud_definition()
    del definition["ResourceConfig"]
    definition["HyperParameterTuningResourceConfig"] = {
        "InstanceConfigs": [{"InstanceType": "ml.m5.xlarge", "InstanceCount": 1,
                             "VolumeSizeInGB": 30}],
        "AllocationStrategy": "Prioritized",
    }
    request = tuning_request(definition)
    assert schema.validate_request(request, "CreateHyperParameterTuningJob") == []
    out = trial_jobs.trial_request(request, definition, TUNED,
                                   trial_jobs.trial_job_name("ntm-tune", 3))
    assert schema.validate_request(out, "CreateTrainingJob") == []


def test_trial_requests_of_several_definitions_are_valid() -> None:
    request = tuning_request()
    del request["TrainingJobDefinition"]
    config = request["HyperParameterTuningJobConfig"]
    objective, ranges = (config.pop("HyperParameterTuningJobObjective"),
                         config.pop("ParameterRanges"))
    request["TrainingJobDefinitions"] = [
        full_cloud_definition() | {"DefinitionName": "a", "TuningObjective": objective,
                                   "HyperParameterRanges": ranges},
        full_cloud_definition() | {"DefinitionName": "b", "TuningObjective": objective,
                                   "HyperParameterRanges": ranges},
    ]
    assert schema.validate_request(request, "CreateHyperParameterTuningJob") == []
    for number, (_, _, definition) in enumerate(trial_jobs.definitions(request), start=1):
        out = trial_jobs.trial_request(request, definition, TUNED,
                                       trial_jobs.trial_job_name("ntm-tune", number))
        assert schema.validate_request(out, "CreateTrainingJob") == []
        assert "DefinitionName" not in out


def test_local_trial_request_is_valid_locally_and_for_the_model(tmp_path: Path) -> None:
    (tmp_path / "data" / "train").mkdir(parents=True)
    definition = cloud_definition(
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "file://data/train"}},
            }
        ],
        OutputDataConfig={"S3OutputPath": "file://out"},
        ResourceConfig={"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
    )
    del definition["RoleArn"]
    request = tuning_request(copy.deepcopy(definition))
    out = trial_jobs.trial_request(request, request["TrainingJobDefinition"], TUNED,
                                   trial_jobs.trial_job_name("ntm-tune", 1))
    assert "RoleArn" not in out
    assert validation.validate_training(spec_from_dict(out, tmp_path)) == []
    assert schema.validate_request(validation.cloud_view(out), "CreateTrainingJob") == []
