"""Tests for runner.shapes.model: requests checked against botocore's SageMaker service model."""

from __future__ import annotations

import copy
import importlib
from typing import Any

import pytest

from runner.core.problems import Problem
from runner.shapes import model as schema

ROLE = "arn:aws:iam::123456789012:role/x"


def training_request() -> dict[str, Any]:
    return {
        "TrainingJobName": "my-job-1",
        "AlgorithmSpecification": {"TrainingImage": "img:latest", "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
        "ResourceConfig": {
            "InstanceType": "ml.m5.xlarge",
            "InstanceCount": 1,
            "VolumeSizeInGB": 10,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def tuning_request() -> dict[str, Any]:
    definition = training_request()
    del definition["TrainingJobName"]
    return {
        "HyperParameterTuningJobName": "tune-1",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "acc"},
        },
        "TrainingJobDefinition": definition,
    }


def problems_at(
    request: dict[str, Any], path: str, operation: str = "CreateTrainingJob"
) -> list[str]:
    return [p.message for p in schema.validate_request(request, operation) if p.path == path]


def test_minimal_training_request_is_valid() -> None:
    assert schema.validate_request(training_request(), "CreateTrainingJob") == []


def test_minimal_tuning_request_is_valid() -> None:
    assert schema.validate_request(tuning_request(), "CreateHyperParameterTuningJob") == []


def test_missing_required_field() -> None:
    request = training_request()
    del request["RoleArn"]
    del request["AlgorithmSpecification"]["TrainingInputMode"]
    assert schema.validate_request(request, "CreateTrainingJob") == [
        Problem("AlgorithmSpecification.TrainingInputMode", "is required"),
        Problem("RoleArn", "is required"),
    ]


def test_unknown_key_inside_a_list() -> None:
    request = training_request()
    request["AlgorithmSpecification"]["MetricDefinitions"] = [
        {"Name": "loss", "Regex": "loss=(.*)"},
        {"Name": "acc", "Regex": "acc=(.*)", "Bogus": 1},
    ]
    problems = schema.validate_request(request, "CreateTrainingJob")
    assert problems == [
        Problem(
            "AlgorithmSpecification.MetricDefinitions[1].Bogus",
            "is not a known field (valid: Name, Regex)",
        )
    ]


def test_unknown_top_level_key_lists_valid_names() -> None:
    request = training_request()
    request["Nope"] = 1
    [problem] = schema.validate_request(request, "CreateTrainingJob")
    assert problem.path == "Nope"
    assert problem.message.startswith("is not a known field (valid: TrainingJobName, ")


def test_wrong_type() -> None:
    request = training_request()
    request["ResourceConfig"]["InstanceCount"] = "1"
    request["AlgorithmSpecification"]["TrainingImage"] = 5
    request["HyperParameters"] = {"lr": 0.1}
    assert schema.validate_request(request, "CreateTrainingJob") == [
        Problem("AlgorithmSpecification.TrainingImage", "must be a string, got int"),
        Problem("HyperParameters.lr", "must be a string, got float"),
        Problem("ResourceConfig.InstanceCount", "must be an integer, got str"),
    ]


def test_bool_is_not_an_integer() -> None:
    request = training_request()
    request["ResourceConfig"]["InstanceCount"] = True
    assert problems_at(request, "ResourceConfig.InstanceCount") == ["must be an integer, got bool"]


def test_wrong_type_is_not_checked_further() -> None:
    request = training_request()
    request["ResourceConfig"] = ["ml.m5.xlarge"]
    assert schema.validate_request(request, "CreateTrainingJob") == [
        Problem("ResourceConfig", "must be a dict, got list")
    ]


def test_min_value_and_min_length() -> None:
    request = training_request()
    request["StoppingCondition"]["MaxRuntimeInSeconds"] = 0
    request["AlgorithmSpecification"]["MetricDefinitions"] = [{"Name": "loss", "Regex": ""}]
    problems = schema.validate_request(request, "CreateTrainingJob")
    assert (
        Problem("StoppingCondition.MaxRuntimeInSeconds", "must be at least 1 (got 0)") in problems
    )
    assert (
        Problem(
            "AlgorithmSpecification.MetricDefinitions[0].Regex",
            "must be at least 1 character (got 0)",
        )
        in problems
    )


def test_max_length_of_a_string() -> None:
    request = training_request()
    request["TrainingJobName"] = "a" * 70
    # The pattern also caps the length ({0,62}), so both constraints are reported, as AWS does.
    assert problems_at(request, "TrainingJobName") == [
        "must be at most 63 characters (got 70)",
        "must match [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
    ]
    request["OutputDataConfig"]["S3OutputPath"] = "s3://b/" + "k" * 1020
    assert problems_at(request, "OutputDataConfig.S3OutputPath") == [
        "must be at most 1024 characters (got 1027)"
    ]


def test_max_length_of_a_hyperparameter_value_and_key() -> None:
    request = training_request()
    request["HyperParameters"] = {"ok": "x" * 2501, "k" * 257: "v"}
    problems = schema.validate_request(request, "CreateTrainingJob")
    assert Problem("HyperParameters.ok", "must be at most 2500 characters (got 2501)") in problems
    assert (
        Problem("HyperParameters", f"key {'k' * 257!r}: must be at most 256 characters (got 257)")
        in problems
    )


def test_max_count_of_metric_definitions() -> None:
    request = training_request()
    request["AlgorithmSpecification"]["MetricDefinitions"] = [
        {"Name": f"m{i}", "Regex": f"m{i}=(.*)"} for i in range(41)
    ]
    assert schema.validate_request(request, "CreateTrainingJob") == [
        Problem("AlgorithmSpecification.MetricDefinitions", "must have at most 40 items (got 41)")
    ]
    del request["AlgorithmSpecification"]["MetricDefinitions"][40]
    assert schema.validate_request(request, "CreateTrainingJob") == []


def test_max_value() -> None:
    request = tuning_request()
    limits = request["HyperParameterTuningJobConfig"]["ResourceLimits"]
    limits["MaxRuntimeInSeconds"] = 15768001
    path = "HyperParameterTuningJobConfig.ResourceLimits.MaxRuntimeInSeconds"
    assert schema.validate_request(request, "CreateHyperParameterTuningJob") == [
        Problem(path, "must be at most 15768000 (got 15768001)")
    ]
    limits["MaxRuntimeInSeconds"] = 60
    assert problems_at(request, path, "CreateHyperParameterTuningJob") == [
        "must be at least 120 (got 60)"
    ]


def test_pattern_on_training_job_name() -> None:
    request = training_request()
    request["TrainingJobName"] = "my_job"
    assert schema.validate_request(request, "CreateTrainingJob") == [
        Problem("TrainingJobName", "must match [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
    ]


def test_pattern_is_matched_against_the_whole_value() -> None:
    request = training_request()
    request["TrainingJobName"] = "-job"
    assert problems_at(request, "TrainingJobName") == [
        "must match [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
    ]


def test_pattern_on_channel_name() -> None:
    request = training_request()
    request["InputDataConfig"] = [
        {
            "ChannelName": name,
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/x"}},
        }
        for name in ("train", "bad name")
    ]
    assert schema.validate_request(request, "CreateTrainingJob") == [
        Problem("InputDataConfig[1].ChannelName", r"must match [A-Za-z0-9\.\-_]+")
    ]


def test_pattern_dot_does_not_match_line_breaks() -> None:
    request = training_request()
    request["HyperParameters"] = {"a": "x\ny"}
    assert problems_at(request, "HyperParameters.a") == [
        "must match .* (line breaks are not allowed)"
    ]


def test_enum_on_instance_type() -> None:
    request = training_request()
    request["ResourceConfig"]["InstanceType"] = "ml.foo"
    [message] = problems_at(request, "ResourceConfig.InstanceType")
    assert message.startswith("must be one of ml.")
    assert ", ... (" in message
    assert message.endswith("(got 'ml.foo')")


def test_enum_on_training_input_mode_suggests_a_close_value() -> None:
    request = training_request()
    request["AlgorithmSpecification"]["TrainingInputMode"] = "file"
    assert schema.validate_request(request, "CreateTrainingJob") == [
        Problem(
            "AlgorithmSpecification.TrainingInputMode",
            "must be one of Pipe, File, FastFile (got 'file'); did you mean 'File'?",
        )
    ]


def test_tuning_job_name_of_33_characters_is_refused() -> None:
    request = tuning_request()
    request["HyperParameterTuningJobName"] = "t" * 33
    assert schema.validate_request(request, "CreateHyperParameterTuningJob") == [
        Problem("HyperParameterTuningJobName", "must be at most 32 characters (got 33)"),
        Problem("HyperParameterTuningJobName", "must match [a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}"),
    ]
    request["HyperParameterTuningJobName"] = "t" * 32
    assert schema.validate_request(request, "CreateHyperParameterTuningJob") == []


def test_problems_are_sorted_and_unique() -> None:
    request = training_request()
    request["TrainingJobName"] = "bad_name"
    request["RoleArn"] = "nope"
    request["ResourceConfig"]["InstanceType"] = "ml.foo"
    problems = schema.validate_request(request, "CreateTrainingJob")
    assert problems == sorted(set(problems))
    assert [p.path for p in problems] == [
        "ResourceConfig.InstanceType",
        "RoleArn",
        "RoleArn",
        "TrainingJobName",
    ]


def test_request_is_not_modified() -> None:
    request = training_request()
    request["TrainingJobName"] = "x" * 100
    before = copy.deepcopy(request)
    schema.validate_request(request, "CreateTrainingJob")
    assert request == before


def test_unknown_operation() -> None:
    with pytest.raises(ValueError, match="unknown SageMaker operation"):
        schema.input_shape("CreateNothing")


def test_import_loads_nothing() -> None:
    fresh = importlib.reload(schema)
    assert fresh.load_service_model.cache_info().currsize == 0
    assert fresh.input_shape.cache_info().currsize == 0


def test_service_model_and_shapes_are_cached() -> None:
    assert schema.load_service_model() is schema.load_service_model()
    assert schema.input_shape("CreateTrainingJob") is schema.input_shape("CreateTrainingJob")
    assert schema.load_service_model().service_name == "sagemaker"


@pytest.mark.parametrize(
    ("pattern", "value", "ok"),
    [
        (r"[\p{Alnum}\-]+", "us-east-1", True),
        (r"[\p{Alnum}\-]+", "é", False),
        (r"\p{XDigit}+", "0aF", True),
        (r"\p{XDigit}+", "0g", False),
        (r"\w+", "é", False),
        (r"\d+", "٣", False),
        (r"[\p{L}\p{N}]+", "é٣", True),
        (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", "a\U0001f600", True),
        (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", "a\n", False),
        (r"[]a]+", "]a", True),
        (r"[^]a]+", "b", True),
        (r"[^\S]+", " ", True),
    ],
)
def test_java_pattern_translation(pattern: str, value: str, ok: bool) -> None:
    compiled = schema.compile_pattern(pattern)
    assert compiled is not None
    assert (compiled.fullmatch(value) is not None) is ok


def test_every_pattern_in_the_model_compiles() -> None:
    model = schema.load_service_model()
    patterns = {
        pattern
        for name in model.shape_names
        if isinstance(pattern := model.shape_for(name).metadata.get("pattern"), str)
    }
    assert len(patterns) > 100
    failures = sorted(p for p in patterns if schema.compile_pattern(p) is None)
    assert len(failures) <= 1, failures
