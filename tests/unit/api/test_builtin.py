"""Built-in algorithms as the runner sees them: manifests, filled-in MetricDefinitions, and
hyperparameters refused before any container starts."""

from __future__ import annotations

from typing import Any

from runner.api import builtin


def ntm_training_request(**hps: str) -> dict[str, Any]:
    return {
        "TrainingJobName": "ntm-1",
        "AlgorithmSpecification": {"TrainingImage": "smlocal/ntm:latest",
                                   "TrainingInputMode": "File"},
        "HyperParameters": {"feature_dim": "500", "num_topics": "20", **hps},
    }


def test_manifests_are_found_by_image() -> None:
    assert set(builtin.manifests()) == {"smlocal/ntm:latest", "smlocal/mlp:latest"}
    assert builtin.manifest_for("smlocal/ntm:latest")["Name"] == "ntm"  # type: ignore[index]
    assert builtin.manifest_for("someone/else:1") is None


def test_metric_definitions_are_filled_in_only_when_missing() -> None:
    completed = builtin.complete(ntm_training_request())
    names = [d["Name"] for d in completed["AlgorithmSpecification"]["MetricDefinitions"]]
    assert "validation:total_loss" in names and "train:total_loss" in names
    own = ntm_training_request()
    own["AlgorithmSpecification"]["MetricDefinitions"] = [{"Name": "x", "Regex": "x=(.*)"}]
    assert (builtin.complete(own)["AlgorithmSpecification"]["MetricDefinitions"]
            == [{"Name": "x", "Regex": "x=(.*)"}])
    # no mutation
    assert "MetricDefinitions" not in ntm_training_request()["AlgorithmSpecification"]


def test_training_hyperparameters_are_checked_with_paths() -> None:
    assert (builtin.training_problems(ntm_training_request(optimizer="adam", learning_rate="0.01"))
            == [])
    problems = builtin.training_problems(ntm_training_request(optimizer="foo", bogus="1",
                                                              mini_batch_size="0"))
    assert [(p.path, p.message.split(" (")[0]) for p in problems] == [
        ("HyperParameters.bogus", "is not a hyperparameter of this algorithm"),
        ("HyperParameters.mini_batch_size", "0 is below the minimum 1"),
        ("HyperParameters.optimizer", "must be one of sgd, adam, adagrad, adadelta, rmsprop"),
    ]
    missing = ntm_training_request()
    del missing["HyperParameters"]["num_topics"]
    assert ([(p.path, p.message) for p in builtin.training_problems(missing)]
            == [("HyperParameters.num_topics", "is required")])


def test_tuning_ranges_and_static_values_are_checked() -> None:
    request = {
        "HyperParameterTuningJobName": "t",
        "HyperParameterTuningJobConfig": {
            "ParameterRanges": {
                "IntegerParameterRanges": [{"Name": "num_topics", "MinValue": "1",
                                            "MaxValue": "50"}],
                "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["adam", "lbfgs"]},
                                               {"Name": "feature_dim", "Values": ["500"]}],
            },
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"feature_dim": "500", "epochs": "-1"},
            "AlgorithmSpecification": {"TrainingImage": "smlocal/ntm:latest",
                                       "TrainingInputMode": "File"},
        },
    }
    found = [(p.path, p.message) for p in builtin.tuning_problems(request)]
    paths = [path for path, _ in found]
    assert "TrainingJobDefinition.StaticHyperParameters.epochs" in paths
    # required, but tuned
    assert "TrainingJobDefinition.StaticHyperParameters.num_topics" not in paths
    # below 2
    assert ("HyperParameterTuningJobConfig.ParameterRanges.IntegerParameterRanges[0].MinValue"
            in paths)
    assert ("HyperParameterTuningJobConfig.ParameterRanges."
            "CategoricalParameterRanges[0].Values[1]" in paths)
    assert ("HyperParameterTuningJobConfig.ParameterRanges.CategoricalParameterRanges[1].Name",
            "'feature_dim' is not tunable for this algorithm") in found


def test_tuning_problems_take_odd_shapes_without_crashing() -> None:
    """Values of the wrong type are the service model's to report; here they are skipped."""
    definition: dict[str, Any] = {
        "StaticHyperParameters": ["feature_dim=500"],
        "AlgorithmSpecification": {"TrainingImage": "smlocal/ntm:latest",
                                   "TrainingInputMode": "File"},
    }
    request: dict[str, Any] = {
        "HyperParameterTuningJobName": "t",
        "HyperParameterTuningJobConfig": {
            "ParameterRanges": {
                "IntegerParameterRanges": [{"Name": ["num_topics"], "MinValue": "2",
                                            "MaxValue": "50"}],
                "CategoricalParameterRanges": [{"Name": "optimizer", "Values": "adam"}],
            },
        },
        "TrainingJobDefinition": definition,
    }
    found = [(p.path, p.message) for p in builtin.tuning_problems(request)]
    assert [path for path, _ in found] == [
        # required: the list counts as none
        "TrainingJobDefinition.StaticHyperParameters.feature_dim",
        "TrainingJobDefinition.StaticHyperParameters.num_topics",
    ]
    definition["AlgorithmSpecification"] = "smlocal/ntm:latest"
    assert builtin.tuning_problems(request) == []


def test_fuzzed_values_are_problems_not_crashes() -> None:
    """What the fuzz regression suite (test_fuzz_requests.py) found: keys YAML reads as no
    string, and integers too long for int() or for float()."""
    request = ntm_training_request(mini_batch_size="9" * 5000, num_topics="9" * 400)
    request["HyperParameters"][1] = "x"
    request["HyperParameters"][None] = "y"
    found = [(p.path, p.message) for p in builtin.training_problems(request)]
    assert ("HyperParameters.mini_batch_size",
            "must be an integer of at most 1000 digits (got 5,000)") in found
    assert ("HyperParameters.num_topics", f"{'9' * 400} is above the maximum 1000") in found
    # the service model's to report
    assert all(not path.endswith(("1", "None")) for path, _ in found)
    tuning: dict[str, Any] = {
        "HyperParameterTuningJobName": "t",
        "HyperParameterTuningJobConfig": {"ParameterRanges": {
            "IntegerParameterRanges": [{"Name": "num_topics", "MinValue": "2",
                                        "MaxValue": "6" * 5000}],
        }},
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"feature_dim": "500", 0: "x", None: "y"},
            "AlgorithmSpecification": {"TrainingImage": "smlocal/ntm:latest",
                                       "TrainingInputMode": "File"},
        },
    }
    assert [(p.path, p.message) for p in builtin.tuning_problems(tuning)] == [(
        "HyperParameterTuningJobConfig.ParameterRanges.IntegerParameterRanges[0].MaxValue",
        f"{'6' * 5000!r}: must be an integer of at most 1000 digits (got 5,000)",
    )]
