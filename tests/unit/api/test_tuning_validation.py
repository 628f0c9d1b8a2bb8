"""Tests for runner.api.tuning_validation: CreateHyperParameterTuningJob requests, locally and for
the cloud."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from runner.api.tuning_validation import tuning_cloud_view, validate_tuning, warm_start_notes
from runner.core.specs import is_tuning_request, spec_from_dict

CONFIG = "HyperParameterTuningJobConfig"
RANGES = f"{CONFIG}.ParameterRanges"
METRIC = "validation:total_loss"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


@pytest.fixture
def base(tmp_path: Path) -> Path:
    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "data" / "validation").mkdir(parents=True)
    return tmp_path


def channel(name: str, uri: str) -> dict[str, Any]:
    return {"ChannelName": name,
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}}


def local_definition(base: Path) -> dict[str, Any]:
    return {
        "StaticHyperParameters": {"epochs": "3", "num_topics": "20"},
        "AlgorithmSpecification": {
            "TrainingImage": "my-registry/topic-model:1.0",  # not a built-in: generic rules only
            "TrainingInputMode": "File",
            "MetricDefinitions": [
                {"Name": METRIC, "Regex": r"total_loss=(\S+)"},
                {"Name": "train:loss", "Regex": r"train_loss=(\S+)"},
            ],
        },
        "InputDataConfig": [channel("train", "file://data/train"), channel("validation", f"file://{base}/data/validation")],
        "OutputDataConfig": {"S3OutputPath": "file://out"},
        "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


@pytest.fixture
def request_(base: Path) -> dict[str, Any]:
    """A valid local tuning request: file:// channels, the local instance type, no RoleArn."""
    return {
        "HyperParameterTuningJobName": "ntm-tune",
        CONFIG: {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": METRIC},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "IntegerParameterRanges": [{"Name": "mini_batch_size", "MinValue": "16",
                                            "MaxValue": "2048"}],
                "ContinuousParameterRanges": [
                    {"Name": "learning_rate", "MinValue": "0.0001", "MaxValue": "0.1",
                     "ScalingType": "Logarithmic"},
                    {"Name": "weight_decay", "MinValue": "0.0", "MaxValue": "1.0"},
                ],
                "CategoricalParameterRanges": [{"Name": "optimizer",
                                                "Values": ["sgd", "adam", "adadelta"]}],
            },
            "TrainingJobEarlyStoppingType": "Off",
        },
        "TrainingJobDefinition": local_definition(base),
    }


def validate(request: dict[str, Any], base: Path, **kwargs: Any) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in validate_tuning(spec_from_dict(request, base), **kwargs)]


def as_several(request: dict[str, Any], count: int = 2) -> dict[str, Any]:
    """The request with its definition repeated as TrainingJobDefinitions, each carrying the
    objective and ranges of the job."""
    out = copy.deepcopy(request)
    one = out.pop("TrainingJobDefinition")
    config = out[CONFIG]
    objective, ranges = (config.pop("HyperParameterTuningJobObjective"),
                         config.pop("ParameterRanges"))
    out["TrainingJobDefinitions"] = [
        {**copy.deepcopy(one), "DefinitionName": f"def-{i}",
         "TuningObjective": copy.deepcopy(objective), "HyperParameterRanges": copy.deepcopy(ranges)}
        for i in range(count)
    ]
    return out


def grid_ranges() -> dict[str, Any]:
    return {
        "CategoricalParameterRanges": [
            {"Name": "optimizer", "Values": ["sgd", "adam"]},
            {"Name": "mini_batch_size", "Values": ["16", "64", "256"]},
        ]
    }


# --- valid requests ------------------------------------------------------------------------------


def test_valid_local_request(request_: dict[str, Any], base: Path) -> None:
    assert validate(request_, base) == []


def test_valid_local_request_with_several_definitions(request_: dict[str, Any], base: Path) -> None:
    assert validate(as_several(request_, 3), base) == []


def test_valid_grid_without_max_jobs(request_: dict[str, Any], base: Path) -> None:
    config = request_[CONFIG]
    config["Strategy"] = "Grid"
    config["ParameterRanges"] = grid_ranges()
    del config["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    assert validate(request_, base) == []


def test_valid_hyperband_with_epochs_static_hyperparameter(
    request_: dict[str, Any], base: Path
) -> None:
    request_[CONFIG]["Strategy"] = "Hyperband"
    assert validate(request_, base) == []
    request_[CONFIG]["StrategyConfig"] = {
        "HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 9}}
    del request_["TrainingJobDefinition"]["StaticHyperParameters"]["epochs"]
    assert validate(request_, base) == []


def test_valid_local_tuning_resource_config(request_: dict[str, Any], base: Path) -> None:
    # the trials get their ResourceConfig from HyperParameterTuningResourceConfig
    definition = request_["TrainingJobDefinition"]
    del definition["ResourceConfig"]
    definition["HyperParameterTuningResourceConfig"] = {"InstanceType": "local", "InstanceCount": 1,
                                                        "VolumeSizeInGB": 1}
    assert validate(request_, base) == []
    definition["HyperParameterTuningResourceConfig"] = {
        "InstanceConfigs": [{"InstanceType": "local_gpu", "InstanceCount": 1, "VolumeSizeInGB": 5}]
    }
    assert validate(request_, base) == []


def test_valid_cloud_request(request_: dict[str, Any], base: Path) -> None:
    definition = request_["TrainingJobDefinition"]
    definition["RoleArn"] = ROLE
    definition["InputDataConfig"] = [channel("train", "s3://bucket/train")]
    definition["OutputDataConfig"] = {"S3OutputPath": "s3://bucket/out"}
    definition["ResourceConfig"]["InstanceType"] = "ml.m5.xlarge"
    assert validate(request_, base, for_cloud=True) == []


def test_is_tuning_request() -> None:
    assert is_tuning_request({"HyperParameterTuningJobName": "x"})
    assert is_tuning_request({CONFIG: {}})
    assert not is_tuning_request({"TrainingJobName": "x"})


def test_tuning_cloud_view_leaves_the_request_alone(request_: dict[str, Any]) -> None:
    before = copy.deepcopy(request_)
    several = as_several(request_)
    view = tuning_cloud_view(several)
    assert request_ == before
    for d in view["TrainingJobDefinitions"]:
        assert d["RoleArn"] == "arn:aws:iam::000000000000:role/smlocal-placeholder"
        assert d["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"
        assert d["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"].startswith("s3://")
    assert "RoleArn" not in several["TrainingJobDefinitions"][0]


# --- for the cloud -----------------------------------------------------------------------------


def test_for_cloud_reports_local_values(request_: dict[str, Any], base: Path) -> None:
    d = "TrainingJobDefinition"
    assert validate(request_, base, for_cloud=True) == [
        (f"{d}.InputDataConfig[0].DataSource.S3DataSource.S3Uri",
         "file:// paths work only locally; the cloud needs an s3:// URI"),
        (f"{d}.InputDataConfig[1].DataSource.S3DataSource.S3Uri",
         "file:// paths work only locally; the cloud needs an s3:// URI"),
        (f"{d}.OutputDataConfig.S3OutputPath",
         "file:// paths work only locally; the cloud needs an s3:// URI"),
        (f"{d}.ResourceConfig.InstanceType",
         "'local' works only locally; the cloud needs an ml.* instance type"),
        (f"{d}.RoleArn", "is required by the cloud"),
    ]


def test_for_cloud_paths_of_several_definitions(request_: dict[str, Any], base: Path) -> None:
    paths = {p for p, _ in validate(as_several(request_), base, for_cloud=True)}
    for i in (0, 1):
        assert f"TrainingJobDefinitions[{i}].RoleArn" in paths
        assert f"TrainingJobDefinitions[{i}].ResourceConfig.InstanceType" in paths
        assert f"TrainingJobDefinitions[{i}].OutputDataConfig.S3OutputPath" in paths


def test_for_cloud_reports_a_local_tuning_resource_config(
    request_: dict[str, Any], base: Path
) -> None:
    definition = request_["TrainingJobDefinition"]
    del definition["ResourceConfig"]
    definition["HyperParameterTuningResourceConfig"] = {"InstanceType": "local", "InstanceCount": 1,
                                                        "VolumeSizeInGB": 1}
    paths = [p for p, _ in validate(request_, base, for_cloud=True)]
    assert "TrainingJobDefinition.HyperParameterTuningResourceConfig.InstanceType" in paths


def test_local_run_accepts_s3_locations(request_: dict[str, Any], base: Path) -> None:
    request_["TrainingJobDefinition"]["OutputDataConfig"] = {"S3OutputPath": "s3://bucket/out"}
    assert validate(request_, base) == []


# --- tuning rules --------------------------------------------------------------------------------


def test_grid_with_a_continuous_range(request_: dict[str, Any], base: Path) -> None:
    request_[CONFIG]["Strategy"] = "Grid"
    assert (validate(request_, base)
            == [(f"{CONFIG}.Strategy", "Grid search takes CategoricalParameterRanges only")])


def test_grid_with_an_integer_range_only(request_: dict[str, Any], base: Path) -> None:
    request_[CONFIG]["Strategy"] = "Grid"
    request_[CONFIG]["ParameterRanges"] = {
        "IntegerParameterRanges": [{"Name": "mini_batch_size", "MinValue": "16", "MaxValue": "32"}]
    }
    assert (validate(request_, base)
            == [(f"{CONFIG}.Strategy", "Grid search takes CategoricalParameterRanges only")])


def test_hyperband_with_early_stopping_auto(request_: dict[str, Any], base: Path) -> None:
    request_[CONFIG]["Strategy"] = "Hyperband"
    request_[CONFIG]["TrainingJobEarlyStoppingType"] = "Auto"
    assert validate(request_, base) == [
        (f"{CONFIG}.TrainingJobEarlyStoppingType",
         "must be Off with the Hyperband strategy (Hyperband stops trials itself)"),
    ]


def test_early_stopping_auto_is_fine_with_bayesian(request_: dict[str, Any], base: Path) -> None:
    request_[CONFIG]["TrainingJobEarlyStoppingType"] = "Auto"
    assert validate(request_, base) == []


def test_hyperband_without_max_resource_or_epochs(request_: dict[str, Any], base: Path) -> None:
    request_[CONFIG]["Strategy"] = "Hyperband"
    del request_["TrainingJobDefinition"]["StaticHyperParameters"]["epochs"]
    assert validate(request_, base) == [
        (
            f"{CONFIG}.StrategyConfig.HyperbandStrategyConfig.MaxResource",
            "is required unless StaticHyperParameters sets one of epochs, numepochs, n-epochs, "
            "n_epochs, num_epochs",
        ),
    ]


def test_objective_not_among_metric_definitions(request_: dict[str, Any], base: Path) -> None:
    request_[CONFIG]["HyperParameterTuningJobObjective"]["MetricName"] = "validation:accuracy"
    assert validate(request_, base) == [
        (
            f"{CONFIG}.HyperParameterTuningJobObjective.MetricName",
            "'validation:accuracy' is not among the metric definitions of "
            "TrainingJobDefinition.AlgorithmSpecification.MetricDefinitions (defined: "
            "validation:total_loss, train:loss)",
        ),
    ]


def test_objective_without_any_metric_definitions(request_: dict[str, Any], base: Path) -> None:
    del request_["TrainingJobDefinition"]["AlgorithmSpecification"]["MetricDefinitions"]
    assert validate(request_, base) == [
        (
            f"{CONFIG}.HyperParameterTuningJobObjective.MetricName",
            "'validation:total_loss' is not among the metric definitions of "
            "TrainingJobDefinition.AlgorithmSpecification.MetricDefinitions (defined: none)",
        ),
    ]


def test_objective_missing(request_: dict[str, Any], base: Path) -> None:
    del request_[CONFIG]["HyperParameterTuningJobObjective"]
    assert (f"{CONFIG}.HyperParameterTuningJobObjective", "is required") in validate(request_, base)


def test_static_hyperparameter_also_tuned(request_: dict[str, Any], base: Path) -> None:
    request_["TrainingJobDefinition"]["StaticHyperParameters"]["optimizer"] = "sgd"
    request_["TrainingJobDefinition"]["StaticHyperParameters"]["learning_rate"] = "0.01"
    assert validate(request_, base) == [
        ("TrainingJobDefinition.StaticHyperParameters.learning_rate",
         "is also a tuned range; a hyperparameter is either static or tuned"),
        ("TrainingJobDefinition.StaticHyperParameters.optimizer",
         "is also a tuned range; a hyperparameter is either static or tuned"),
    ]


@pytest.mark.parametrize("strategy", ["Random", "Bayesian", "Hyperband"])
def test_max_jobs_required_except_for_grid(
    request_: dict[str, Any], base: Path, strategy: str
) -> None:
    request_[CONFIG]["Strategy"] = strategy
    del request_[CONFIG]["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    assert validate(request_, base) == [
        (
            f"{CONFIG}.ResourceLimits.MaxNumberOfTrainingJobs",
            f"is required with the {strategy} strategy (only Grid defaults it to the number of "
            "combinations)",
        ),
    ]


@pytest.mark.parametrize("patience,problem", [(2, True), (0, True), (3, False), (10, False)])
def test_best_objective_not_improving_at_least_3(
    request_: dict[str, Any], base: Path, patience: int, problem: bool
) -> None:
    request_[CONFIG]["TuningJobCompletionCriteria"] = {
        "BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": patience}
    }
    path = (f"{CONFIG}.TuningJobCompletionCriteria.BestObjectiveNotImproving"
            ".MaxNumberOfTrainingJobsNotImproving")
    expected = [(path, f"must be at least 3 (got {patience})")] if problem else []
    assert validate(request_, base) == expected


def test_tuning_job_name_of_33_characters(request_: dict[str, Any], base: Path) -> None:
    request_["HyperParameterTuningJobName"] = "a" * 33
    assert validate(request_, base) == [
        ("HyperParameterTuningJobName", "must be at most 32 characters (got 33)"),
        ("HyperParameterTuningJobName", "must match [a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}"),
    ]
    request_["HyperParameterTuningJobName"] = "a" * 32
    assert validate(request_, base) == []


# --- ranges --------------------------------------------------------------------------------------


def test_logarithmic_with_min_value_zero(request_: dict[str, Any], base: Path) -> None:
    request_[CONFIG]["ParameterRanges"]["ContinuousParameterRanges"][0]["MinValue"] = "0"
    assert validate(request_, base) == [
        (f"{RANGES}.ContinuousParameterRanges[0].MinValue",
         "must be greater than 0 for Logarithmic scaling"),
    ]


def test_min_value_not_below_max_value(request_: dict[str, Any], base: Path) -> None:
    request_[CONFIG]["ParameterRanges"]["IntegerParameterRanges"][0]["MinValue"] = "2048"
    request_[CONFIG]["ParameterRanges"]["ContinuousParameterRanges"][1]["MinValue"] = "2.5"
    assert validate(request_, base) == [
        (f"{RANGES}.ContinuousParameterRanges[1].MinValue", "must be less than MaxValue ('1.0')"),
        (f"{RANGES}.IntegerParameterRanges[0].MinValue", "must be less than MaxValue ('2048')"),
    ]


def test_reverse_logarithmic_on_an_integer_range(request_: dict[str, Any], base: Path) -> None:
    request_[CONFIG]["ParameterRanges"]["IntegerParameterRanges"][0]["ScalingType"] = (
        "ReverseLogarithmic")
    assert validate(request_, base) == [
        (f"{RANGES}.IntegerParameterRanges[0].ScalingType",
         "ReverseLogarithmic is only for continuous ranges"),
    ]


def test_reverse_logarithmic_needs_max_below_one(request_: dict[str, Any], base: Path) -> None:
    request_[CONFIG]["ParameterRanges"]["ContinuousParameterRanges"][1]["ScalingType"] = (
        "ReverseLogarithmic")
    assert validate(request_, base) == [
        (f"{RANGES}.ContinuousParameterRanges[1].MaxValue",
         "must be less than 1 for ReverseLogarithmic scaling"),
    ]


def test_range_problems_in_a_definitions_own_ranges(request_: dict[str, Any], base: Path) -> None:
    request_["TrainingJobDefinition"]["HyperParameterRanges"] = copy.deepcopy(
        request_[CONFIG].pop("ParameterRanges"))
    request_["TrainingJobDefinition"]["HyperParameterRanges"]["ContinuousParameterRanges"][0][
        "MinValue"] = "-1"
    assert validate(request_, base) == [
        (
            "TrainingJobDefinition.HyperParameterRanges.ContinuousParameterRanges[0].MinValue",
            "must be greater than 0 for Logarithmic scaling",
        ),
    ]


# --- warm start ----------------------------------------------------------------------------------


def test_warm_start_parent_missing(request_: dict[str, Any], base: Path) -> None:
    request_["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent-1"},
                                           {"HyperParameterTuningJobName": "parent-2"}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }
    asked: list[str] = []

    def exists(name: str) -> bool:
        asked.append(name)
        return name == "parent-1"

    assert validate(request_, base, parent_exists=exists) == [
        ("WarmStartConfig.ParentHyperParameterTuningJobs[1].HyperParameterTuningJobName",
         "no tuning job 'parent-2' in this store"),
    ]
    assert asked == ["parent-1", "parent-2"]
    assert validate(request_, base, parent_exists=lambda name: True) == []
    assert validate(request_, base) == []  # no store to ask: not checked
    # for the cloud the parents are the account's: a note, not a refusal
    cloud = [p for p in validate(request_, base, for_cloud=True, parent_exists=exists)
             if p[0].startswith("WarmStartConfig")]
    assert cloud == []
    notes = warm_start_notes(request_, exists)
    assert [(p.path, p.message) for p in notes] == [
        ("WarmStartConfig.ParentHyperParameterTuningJobs[1].HyperParameterTuningJobName",
         "no tuning job 'parent-2' in this store: for the cloud it must be a tuning job of the "
         "account (smlocal cannot see that)")]


# --- definitions --------------------------------------------------------------------------------


def test_both_definition_and_definitions(request_: dict[str, Any], base: Path) -> None:
    request_["TrainingJobDefinitions"] = [{**copy.deepcopy(request_["TrainingJobDefinition"]),
                                           "DefinitionName": "other"}]
    assert validate(request_, base) == [
        ("TrainingJobDefinitions",
         "give TrainingJobDefinition or TrainingJobDefinitions, not both"),
    ]


def test_no_definition(request_: dict[str, Any], base: Path) -> None:
    del request_["TrainingJobDefinition"]
    assert ("TrainingJobDefinition", "is required (or TrainingJobDefinitions)") in validate(
        request_, base)


def test_problems_of_the_second_definition_carry_its_index(
    request_: dict[str, Any], base: Path
) -> None:
    several = as_several(request_)
    second = several["TrainingJobDefinitions"][1]
    second["HyperParameterRanges"]["ContinuousParameterRanges"][0]["MinValue"] = "0"
    second["TuningObjective"]["MetricName"] = "nope"
    second["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = "file://data/missing"
    assert validate(several, base) == [
        (
            "TrainingJobDefinitions[1].HyperParameterRanges.ContinuousParameterRanges[0].MinValue",
            "must be greater than 0 for Logarithmic scaling",
        ),
        (
            "TrainingJobDefinitions[1].InputDataConfig[0].DataSource.S3DataSource.S3Uri",
            f"no such file or folder: {base / 'data' / 'missing'}",
        ),
        (
            "TrainingJobDefinitions[1].TuningObjective.MetricName",
            "'nope' is not among the metric definitions of "
            "TrainingJobDefinitions[1].AlgorithmSpecification.MetricDefinitions (defined: "
            "validation:total_loss, train:loss)",
        ),
    ]


def test_static_tuned_in_the_second_definition(request_: dict[str, Any], base: Path) -> None:
    several = as_several(request_)
    several["TrainingJobDefinitions"][1]["StaticHyperParameters"]["optimizer"] = "adam"
    assert validate(several, base) == [
        ("TrainingJobDefinitions[1].StaticHyperParameters.optimizer",
         "is also a tuned range; a hyperparameter is either static or tuned"),
    ]


def test_image_check_per_definition(request_: dict[str, Any], base: Path) -> None:
    several = as_several(request_)
    several["TrainingJobDefinitions"][1]["AlgorithmSpecification"]["TrainingImage"] = (
        "smlocal/other:latest")
    problems = validate(several, base,
                        image_check=lambda image: image == "my-registry/topic-model:1.0")
    assert problems == [
        (
            "TrainingJobDefinitions[1].AlgorithmSpecification.TrainingImage",
            "image 'smlocal/other:latest' is not in the local Docker engine and no Local.Build is "
            "given to build it",
        ),
    ]


# --- values of the wrong type: one problem at their path, never a crash -------------------


def _set(request: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = request
    for key in parents:
        node = node[key]
    node[last] = value


@pytest.mark.parametrize("where, value, expected", [
    ("TrainingJobDefinition", -1, ("TrainingJobDefinition", "must be a dict, got int")),
    ("TrainingJobDefinition", ["x"], ("TrainingJobDefinition", "must be a dict, got list")),
    ("TrainingJobDefinition.AlgorithmSpecification", "x",
     ("TrainingJobDefinition.AlgorithmSpecification", "must be a dict, got str")),
    ("TrainingJobDefinition.AlgorithmSpecification.MetricDefinitions", -1,
     ("TrainingJobDefinition.AlgorithmSpecification.MetricDefinitions", "must be a list, got int")),
    ("TrainingJobDefinition.StaticHyperParameters", [[]],
     ("TrainingJobDefinition.StaticHyperParameters", "must be a dict, got list")),
    ("TrainingJobDefinition.StaticHyperParameters", "epochs=3",
     ("TrainingJobDefinition.StaticHyperParameters", "must be a dict, got str")),
    ("TrainingJobDefinition.TuningObjective", "x",
     ("TrainingJobDefinition.TuningObjective", "must be a dict, got str")),
    ("TrainingJobDefinition.HyperParameterRanges", "x",
     ("TrainingJobDefinition.HyperParameterRanges", "must be an object of parameter ranges")),
    (f"{CONFIG}.HyperParameterTuningJobObjective", "validation:loss",
     (f"{CONFIG}.HyperParameterTuningJobObjective", "must be a dict, got str")),
    (f"{CONFIG}.HyperParameterTuningJobObjective", [None],
     (f"{CONFIG}.HyperParameterTuningJobObjective", "must be a dict, got list")),
    (f"{CONFIG}.ParameterRanges", "x", (RANGES, "must be an object of parameter ranges")),
    (f"{CONFIG}.ParameterRanges", [[]], (RANGES, "must be an object of parameter ranges")),
    (f"{CONFIG}.TuningJobCompletionCriteria", {"BestObjectiveNotImproving": "x"},
     (f"{CONFIG}.TuningJobCompletionCriteria.BestObjectiveNotImproving",
      "must be a dict, got str")),
    (f"{CONFIG}.ResourceLimits", None,
     (f"{CONFIG}.ResourceLimits", "must be a dict, got NoneType")),
])
def test_a_value_of_the_wrong_type(
    request_: dict[str, Any], base: Path, where: str, value: Any, expected: tuple[str, str]
) -> None:
    _set(request_, where, value)
    assert validate(request_, base) == [expected]


@pytest.mark.parametrize("value, expected", [
    ("abc", [("TrainingJobDefinitions", "must be a list, got str")]),
    ({"a": {}}, [("TrainingJobDefinitions", "must be a list, got dict")]),
    ([1, None], [("TrainingJobDefinitions[0]", "must be a dict, got int"),
                 ("TrainingJobDefinitions[1]", "must be a dict, got NoneType")]),
])
def test_definitions_of_the_wrong_type(
    request_: dict[str, Any], base: Path, value: Any, expected: list[tuple[str, str]]
) -> None:
    several = as_several(request_)
    several["TrainingJobDefinitions"] = value
    assert validate(several, base) == expected


def test_a_range_name_that_is_no_string_with_a_built_in_algorithm(
    request_: dict[str, Any], base: Path
) -> None:
    request_["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"] = (
        "smlocal/ntm:latest")
    request_["TrainingJobDefinition"]["StaticHyperParameters"] = {"feature_dim": "500",
                                                                  "num_topics": "20"}
    request_[CONFIG]["ParameterRanges"] = {
        "CategoricalParameterRanges": [{"Name": ["optimizer"], "Values": ["adam"]}]}
    assert validate(request_, base) == [
        (f"{RANGES}.CategoricalParameterRanges[0].Name", "is required (a non-empty string)"),
    ]


# --- what the trials need: resources, names, reserved hyperparameters ---------------------


def test_definition_needs_a_resource_config(request_: dict[str, Any], base: Path) -> None:
    definition = request_["TrainingJobDefinition"]
    del definition["ResourceConfig"]
    assert validate(request_, base) == [
        ("TrainingJobDefinition.ResourceConfig",
         "is required (or HyperParameterTuningResourceConfig)"),
    ]
    definition["ResourceConfig"] = {"VolumeSizeInGB": 1}
    assert validate(request_, base) == [
        ("TrainingJobDefinition.ResourceConfig.InstanceCount", "is required"),
        ("TrainingJobDefinition.ResourceConfig.InstanceType", "is required"),
    ]


@pytest.mark.parametrize("hptrc, expected", [
    ({}, [("InstanceCount", "is required"), ("InstanceType", "is required")]),
    ({"InstanceType": "local", "InstanceCount": 0, "VolumeSizeInGB": 1},
     [("InstanceCount", "must be at least 1")]),
    ({"InstanceType": "local", "InstanceCount": 9, "VolumeSizeInGB": 1},
     [("InstanceCount",
       "smlocal runs at most 8 hosts locally, each a container on this machine (got 9)")]),
    ({"InstanceConfigs": [{"InstanceType": "local", "InstanceCount": 9, "VolumeSizeInGB": 1}]},
     [("InstanceConfigs[0].InstanceCount",
       "smlocal runs at most 8 hosts locally, each a container on this machine (got 9)")]),
])
def test_tuning_resource_config_is_checked_as_a_resource_config(
    request_: dict[str, Any], base: Path, hptrc: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    definition = request_["TrainingJobDefinition"]
    del definition["ResourceConfig"]
    definition["HyperParameterTuningResourceConfig"] = hptrc
    path = "TrainingJobDefinition.HyperParameterTuningResourceConfig"
    assert validate(request_, base) == [(f"{path}.{field}", message) for field, message in expected]


def test_resource_config_and_tuning_resource_config_not_both(
    request_: dict[str, Any], base: Path
) -> None:
    request_["TrainingJobDefinition"]["HyperParameterTuningResourceConfig"] = {
        "InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1}
    assert validate(request_, base) == [
        ("TrainingJobDefinition.HyperParameterTuningResourceConfig",
         "give ResourceConfig or HyperParameterTuningResourceConfig, not both"),
    ]


def test_definition_names_are_unique(request_: dict[str, Any], base: Path) -> None:
    several = as_several(request_, 3)
    several["TrainingJobDefinitions"][2]["DefinitionName"] = "def-0"
    assert validate(several, base) == [
        ("TrainingJobDefinitions[2].DefinitionName",
         "duplicate definition name 'def-0' (also TrainingJobDefinitions[0])"),
    ]
    several["TrainingJobDefinitions"][0]["DefinitionName"] = "definition-3"
    del several["TrainingJobDefinitions"][2]["DefinitionName"]
    assert validate(several, base) == [
        ("TrainingJobDefinitions[2].DefinitionName",
         "is required here: the default name 'definition-3' is taken by TrainingJobDefinitions[0]"),
    ]


def test_the_objective_hyperparameter_is_reserved(request_: dict[str, Any], base: Path) -> None:
    request_["TrainingJobDefinition"]["StaticHyperParameters"]["_tuning_objective_metric"] = "x"
    assert validate(request_, base) == [
        ("TrainingJobDefinition.StaticHyperParameters._tuning_objective_metric",
         "is reserved: every trial gets the objective metric's name in it"),
    ]


@pytest.mark.parametrize("strategy", ["Bayesian", "Random", "Grid"])
def test_strategy_config_only_with_hyperband(
    request_: dict[str, Any], base: Path, strategy: str
) -> None:
    request_[CONFIG]["Strategy"] = strategy
    if strategy == "Grid":
        request_[CONFIG]["ParameterRanges"] = grid_ranges()
    request_[CONFIG]["StrategyConfig"] = {
        "HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 3}}
    assert validate(request_, base) == [
        (f"{CONFIG}.StrategyConfig",
         f"is only for the Hyperband strategy (Strategy is {strategy})"),
    ]


def test_target_objective_value_must_be_finite(request_: dict[str, Any], base: Path) -> None:
    request_[CONFIG]["TuningJobCompletionCriteria"] = {"TargetObjectiveMetricValue": float("nan")}
    assert validate(request_, base) == [
        (f"{CONFIG}.TuningJobCompletionCriteria.TargetObjectiveMetricValue",
         "must be a finite number (got nan)"),
    ]


def test_algorithm_name_in_a_definition(request_: dict[str, Any], base: Path) -> None:
    request_["TrainingJobDefinition"]["AlgorithmSpecification"] = {
        "AlgorithmName": "ntm", "TrainingInputMode": "File",
        "MetricDefinitions": [{"Name": METRIC, "Regex": r"total_loss=(\S+)"}],
    }
    assert validate(request_, base) == [
        ("TrainingJobDefinition.AlgorithmSpecification.TrainingImage",
         "is required (AlgorithmName is not supported locally)"),
    ]


@pytest.mark.parametrize("parents, expected", [
    (-1, "must be a list, got int"),
    (1.5, "must be a list, got float"),
    ("job", "must be a list, got str"),
])
def test_warm_start_parents_of_the_wrong_type(
    request_: dict[str, Any], base: Path, parents: Any, expected: str
) -> None:
    request_["WarmStartConfig"] = {"ParentHyperParameterTuningJobs": parents,
                                   "WarmStartType": "TransferLearning"}
    assert validate(request_, base, parent_exists=lambda name: False) == [
        ("WarmStartConfig.ParentHyperParameterTuningJobs", expected),
    ]


def test_autotune_is_refused_locally_not_for_the_cloud(
    request_: dict[str, Any], base: Path
) -> None:
    request_["Autotune"] = {"Mode": "Enabled"}
    assert validate(request_, base) == [("Autotune",
                                         "is not supported locally: smlocal runs the request's own "
                                         "HyperParameterTuningJobConfig (remove Autotune to run it "
                                         "here; --for-cloud accepts it)")]
    assert not [p for p in validate(request_, base, for_cloud=True) if p[0] == "Autotune"]


def test_autotune_for_the_cloud_chooses_the_ranges(request_: dict[str, Any], base: Path) -> None:
    ranges = f"{CONFIG}.ParameterRanges"
    request_[CONFIG]["ParameterRanges"] = {"AutoParameters": [{"Name": "learning_rate",
                                                               "ValueHint": "0.01"}]}
    local = validate(request_, base)
    assert (ranges, "at least one parameter range is required") in local
    request_["Autotune"] = {"Mode": "Enabled"}
    assert not [p for p in validate(request_, base, for_cloud=True) if p[0].startswith(ranges)]
    del request_["Autotune"]  # AutoParameters without Autotune: the cloud refuses them too
    assert (f"{ranges}.AutoParameters", "is taken only with Autotune (AutoParameters hint the "
            "ranges Autotune chooses)") in validate(request_, base, for_cloud=True)


def test_a_definitions_max_wait_needs_spot_training(request_: dict[str, Any], base: Path) -> None:
    request_["TrainingJobDefinition"]["StoppingCondition"]["MaxWaitTimeInSeconds"] = 3600
    assert ("TrainingJobDefinition.StoppingCondition.MaxWaitTimeInSeconds",
            "is only supported when EnableManagedSpotTraining is set to true (the service refuses "
            "it otherwise)") in validate(request_, base)
