"""Tests for runner.tuning.records: a stored tuning job's trials read back as describe views
and as warm-start history."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.shapes import status
from runner.shapes.status import training_job_arn, tuning_job_arn
from runner.store.jobs import Store
from runner.store.tuning import TuningStore
from runner.tuning.describe import TrialView
from runner.tuning.records import spaces, trial_views, warm_start_trials
from runner.tuning.search_space import SearchSpace, parse_ranges
from runner.tuning.trials import Trial, TrialStatus

T0 = 1_700_000_000.0
METRIC = "validation:loss"
DEFAULT = "training-job-definition"
RANGES: dict[str, Any] = {
    "IntegerParameterRanges": [{"Name": "batch", "MinValue": "16", "MaxValue": "256"}],
    "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.001", "MaxValue": "0.1",
                                   "ScalingType": "Logarithmic"}],
    "CategoricalParameterRanges": [{"Name": "opt", "Values": ["sgd", "adam"]}],
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "home")
    yield s
    s.close()


@pytest.fixture
def tstore(store: Store) -> TuningStore:
    return TuningStore(store)


def tuning_request(
    name: str, ranges: dict[str, Any] | None = None, direction: str = "Minimize"
) -> dict[str, Any]:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": direction, "MetricName": METRIC},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 10, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": copy.deepcopy(ranges if ranges is not None else RANGES),
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"epochs": "2"},
            "AlgorithmSpecification": {
                "TrainingImage": "smlocal/demo:latest", "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": METRIC, "Regex": r"loss=(\S+)"}],
            },
            "OutputDataConfig": {"S3OutputPath": "file://out"},
            "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        },
    }


def create_tuning_job(tstore: TuningStore, request: dict[str, Any]) -> str:
    name: str = request["HyperParameterTuningJobName"]
    record = {
        "HyperParameterTuningJobName": name, "HyperParameterTuningJobArn": tuning_job_arn(name),
        "HyperParameterTuningJobStatus": "InProgress", "CreationTime": T0, "LastModifiedTime": T0,
        "HyperParameterTuningJobConfig": request["HyperParameterTuningJobConfig"],
    }
    tstore.create(record, request, {"StopGracePeriodSeconds": 120.0, "BaseDir": "/tmp"})
    return name


def create_training_job(
    store: Store, tuning: str, job: str, final: str, value: float | None = None,
    reason: str | None = None, created: float = T0,
) -> dict[str, Any]:
    record = status.new_record({"TrainingJobName": job}, training_job_arn(job), created)
    store.create_training_job(record, {"TrainingJobName": job}, {}, tuning_job=tuning)
    status.advance(record, "Downloading", created + 1)
    status.advance(record, "Training", created + 2)
    if final != "InProgress":
        if value is not None:
            record["FinalMetricDataList"] = [{"MetricName": METRIC, "Value": value,
                                              "Timestamp": created + 9}]
        if reason is not None:
            record["FailureReason"] = reason
        status.advance(record, final, created + 10)
    store.save_record(record)
    return record


def trial(
    store: Store, tstore: TuningStore, tuning: str, number: int, config: dict[str, Any],
    *attempts: tuple[str, float | None, str | None], definition: str = DEFAULT,
) -> list[str]:
    """Trial ``number`` with one training job per ``(status, objective, reason)`` attempt (the
    last is current); no attempt at all: a trial whose training job is not created yet."""
    jobs = [f"{tuning}-{number:03d}-{i:08x}" for i in range(max(1, len(attempts)))]
    tstore.add_trial(tuning, number, definition, config, jobs[0])
    for i, (final, value, reason) in enumerate(attempts):
        if i:
            tstore.retry_trial(tuning, number, jobs[i])
        create_training_job(store, tuning, jobs[i], final, value, reason,
                            created=T0 + 100 * number + i)
    return jobs


def parent_job(store: Store, tstore: TuningStore, name: str = "parent") -> str:
    """1 completed; 2 retried (infrastructure) then completed; 3 failed in the algorithm;
    4 completed without an objective; 5 stopped early with one; 6 not created yet;
    7 still running; 8 completed with lr outside [0.001, 0.02]."""
    create_tuning_job(tstore, tuning_request(name))
    trial(store, tstore, name, 1, {"batch": 64, "lr": 0.01, "opt": "adam"},
          ("Completed", 0.5, None))
    trial(store, tstore, name, 2, {"batch": 16, "lr": 0.002, "opt": "sgd"},
          ("Failed", None, "InternalServerError: the container was killed"),
          ("Completed", 0.3, None))
    trial(store, tstore, name, 3, {"batch": 32, "lr": 0.004, "opt": "adam"},
          ("Failed", 0.1, "AlgorithmError: exit 1"))
    trial(store, tstore, name, 4, {"batch": 128, "lr": 0.008, "opt": "sgd"},
          ("Completed", None, None))
    trial(store, tstore, name, 5, {"batch": 256, "lr": 0.015, "opt": "sgd"}, ("Stopped", 0.4, None))
    trial(store, tstore, name, 6, {"batch": 100, "lr": 0.005, "opt": "adam"})
    trial(store, tstore, name, 7, {"batch": 200, "lr": 0.006, "opt": "adam"},
          ("InProgress", None, None))
    trial(store, tstore, name, 8, {"batch": 48, "lr": 0.05, "opt": "adam"},
          ("Completed", 0.2, None))
    return name


def space_of(ranges: dict[str, Any]) -> SearchSpace:
    space, problems = parse_ranges(ranges, "ParameterRanges")
    assert space is not None, problems
    return space


def warm(*parents: str, kind: str = "IdenticalDataAndAlgorithm") -> dict[str, Any]:
    return {"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": p} for p in parents],
            "WarmStartType": kind}


# --- spaces / trial_views ------------------------------------------------------------------


def test_spaces_per_definition() -> None:
    request = tuning_request("x")
    assert list(spaces(request)) == [DEFAULT]
    assert spaces(request)[DEFAULT].names == ["batch", "lr", "opt"]
    request["HyperParameterTuningJobConfig"]["ParameterRanges"] = {"Bogus": []}
    assert spaces(request) == {}


def test_trial_views(store: Store, tstore: TuningStore) -> None:
    name = parent_job(store, tstore)
    views = trial_views(store, tstore, name)
    assert [(v.record["TrainingJobName"], v.record["TrainingJobStatus"], v.current)
            for v in views] == [
        ("parent-001-00000000", "Completed", True),
        ("parent-002-00000000", "Failed", False),
        ("parent-002-00000001", "Completed", True),
        ("parent-003-00000000", "Failed", True),
        ("parent-004-00000000", "Completed", True),
        ("parent-005-00000000", "Stopped", True),
        ("parent-007-00000000", "InProgress", True),
        ("parent-008-00000000", "Completed", True),
    ]
    assert all(v.definition == DEFAULT for v in views)
    assert all((v.objective_metric, v.objective_type) == (METRIC, "Minimize") for v in views)
    assert views[0].tuned == {"batch": "64", "lr": "0.01", "opt": "adam"}
    assert views[1].tuned == views[2].tuned == {"batch": "16", "lr": "0.002", "opt": "sgd"}
    assert views[1].record["FailureReason"] == "InternalServerError: the container was killed"
    assert views[2].record["FinalMetricDataList"][0]["Value"] == 0.3


def test_trial_views_of_a_trial_whose_retry_is_not_created_yet(
    store: Store, tstore: TuningStore
) -> None:
    name = create_tuning_job(tstore, tuning_request("t"))
    trial(store, tstore, name, 1, {"batch": 64, "lr": 0.01, "opt": "adam"},
          ("Failed", None, "InternalServerError: x"))
    tstore.retry_trial(name, 1, "t-001-0000000a")  # the runner died before creating it
    views = trial_views(store, tstore, name)
    assert [(v.record["TrainingJobName"], v.current) for v in views] == [("t-001-00000000", False)]


def test_trial_views_of_several_definitions(store: Store, tstore: TuningStore) -> None:
    request = tuning_request("multi")
    one = request.pop("TrainingJobDefinition")
    config = request["HyperParameterTuningJobConfig"]
    del config["HyperParameterTuningJobObjective"], config["ParameterRanges"]
    request["TrainingJobDefinitions"] = [
        {**copy.deepcopy(one), "DefinitionName": "small",
         "TuningObjective": {"Type": "Minimize", "MetricName": METRIC},
         "HyperParameterRanges": {"CategoricalParameterRanges": [{"Name": "opt",
                                                                  "Values": ["sgd", "adam"]}]}},
        {**copy.deepcopy(one),
         "TuningObjective": {"Type": "Maximize", "MetricName": "validation:acc"},
         "HyperParameterRanges": {"ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.1",
                                                                 "MaxValue": "1"}]}},
    ]
    name = create_tuning_job(tstore, request)
    trial(store, tstore, name, 1, {"opt": "adam"}, ("Completed", 0.5, None), definition="small")
    trial(store, tstore, name, 2, {"lr": 0.25}, ("Completed", 0.5, None), definition="definition-2")
    views = trial_views(store, tstore, name)
    assert [(v.definition, v.tuned, v.objective_metric, v.objective_type) for v in views] == [
        ("small", {"opt": "adam"}, METRIC, "Minimize"),
        ("definition-2", {"lr": "0.25"}, "validation:acc", "Maximize"),
    ]


def test_trial_views_of_an_unknown_job(store: Store, tstore: TuningStore) -> None:
    from runner.store.jobs import JobNotFound

    with pytest.raises(JobNotFound):
        trial_views(store, tstore, "nope")


def test_trial_views_feed_describe(store: Store, tstore: TuningStore) -> None:
    from runner.tuning.describe import describe_tuning_job

    name = parent_job(store, tstore)
    out = describe_tuning_job(tstore.record(name), trial_views(store, tstore, name), now=T0 + 1000)
    assert out["TrainingJobStatusCounters"] == {
        "Completed": 4, "InProgress": 1, "RetryableError": 1, "NonRetryableError": 1, "Stopped": 1,
    }
    assert out["ObjectiveStatusCounters"] == {"Succeeded": 4, "Pending": 1, "Failed": 2}
    assert out["BestTrainingJob"]["TrainingJobName"] == "parent-008-00000000"


# --- warm_start_trials -----------------------------------------------------------------------


def test_no_warm_start(store: Store, tstore: TuningStore) -> None:
    parent_job(store, tstore)
    space = space_of(RANGES)
    assert warm_start_trials(store, tstore, None, space) == []
    assert warm_start_trials(store, tstore, {}, space) == []
    assert warm_start_trials(store, tstore, {"ParentHyperParameterTuningJobs": []}, space) == []


def test_warm_start_in_the_same_space(store: Store, tstore: TuningStore) -> None:
    parent = parent_job(store, tstore)
    trials = warm_start_trials(store, tstore, warm(parent), space_of(RANGES))
    assert trials == [
        Trial(-1, {"batch": 64, "lr": 0.01, "opt": "adam"}, TrialStatus.COMPLETED, 0.5, (0.5,)),
        Trial(-2, {"batch": 16, "lr": 0.002, "opt": "sgd"}, TrialStatus.COMPLETED, 0.3, (0.3,)),
        Trial(-3, {"batch": 256, "lr": 0.015, "opt": "sgd"}, TrialStatus.COMPLETED, 0.4, (0.4,)),
        Trial(-4, {"batch": 48, "lr": 0.05, "opt": "adam"}, TrialStatus.COMPLETED, 0.2, (0.2,)),
    ]
    assert all(isinstance(t.config["batch"], int) and isinstance(t.config["lr"], float)
               for t in trials)


def test_warm_start_drops_values_outside_the_new_space(store: Store, tstore: TuningStore) -> None:
    parent = parent_job(store, tstore)
    narrower = copy.deepcopy(RANGES)
    narrower["ContinuousParameterRanges"][0]["MaxValue"] = "0.02"  # trial 8 has lr 0.05
    narrower["IntegerParameterRanges"][0]["MaxValue"] = "128"  # trial 5 has batch 256
    trials = warm_start_trials(store, tstore, warm(parent, kind="TransferLearning"),
                               space_of(narrower))
    assert [(t.number, t.config, t.objective) for t in trials] == [
        (-1, {"batch": 64, "lr": 0.01, "opt": "adam"}, 0.5),
        (-2, {"batch": 16, "lr": 0.002, "opt": "sgd"}, 0.3),
    ]


def test_warm_start_drops_categorical_values_no_longer_offered(
    store: Store, tstore: TuningStore
) -> None:
    parent = parent_job(store, tstore)
    ranges = copy.deepcopy(RANGES)
    ranges["CategoricalParameterRanges"][0]["Values"] = ["sgd", "rmsprop"]
    trials = warm_start_trials(store, tstore, warm(parent), space_of(ranges))
    assert ([(t.number, t.config["opt"], t.objective) for t in trials]
            == [(-1, "sgd", 0.3), (-2, "sgd", 0.4)])


def test_warm_start_with_a_new_hyperparameter_takes_nothing(
    store: Store, tstore: TuningStore
) -> None:
    parent = parent_job(store, tstore)
    ranges = copy.deepcopy(RANGES)
    ranges["ContinuousParameterRanges"].append({"Name": "dropout", "MinValue": "0",
                                                "MaxValue": "0.5"})
    assert warm_start_trials(store, tstore, warm(parent), space_of(ranges)) == []


def test_warm_start_with_fewer_hyperparameters(store: Store, tstore: TuningStore) -> None:
    parent = parent_job(store, tstore)
    only_lr = {"ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.001",
                                              "MaxValue": "0.1"}]}
    trials = warm_start_trials(store, tstore, warm(parent), space_of(only_lr))
    assert [(t.number, t.config, t.objective) for t in trials] == [
        (-1, {"lr": 0.01}, 0.5), (-2, {"lr": 0.002}, 0.3), (-3, {"lr": 0.015}, 0.4),
        (-4, {"lr": 0.05}, 0.2),
    ]


def test_warm_start_numbers_run_on_across_parents(store: Store, tstore: TuningStore) -> None:
    first = parent_job(store, tstore, "p1")
    create_tuning_job(tstore, tuning_request("p2"))
    trial(store, tstore, "p2", 1, {"batch": 20, "lr": 0.003, "opt": "sgd"},
          ("Completed", 0.7, None))
    trial(store, tstore, "p2", 2, {"batch": 21, "lr": 0.004, "opt": "sgd"}, ("Stopped", None, None))
    trials = warm_start_trials(store, tstore, warm(first, "p2"), space_of(RANGES))
    assert [t.number for t in trials] == [-1, -2, -3, -4, -5]
    assert (trials[-1] == Trial(-5, {"batch": 20, "lr": 0.003, "opt": "sgd"}, TrialStatus.COMPLETED,
                                0.7, (0.7,)))
    assert all(not t.status.running and t.finished for t in trials)


def test_trial_view_is_what_warm_start_reads(store: Store, tstore: TuningStore) -> None:
    # a parent trial's tuned values round-trip through format and parse unchanged
    parent = parent_job(store, tstore)
    views: list[TrialView] = trial_views(store, tstore, parent)
    space = space_of(RANGES)
    for v in views:
        assert space.format(space.parse(v.tuned)) == v.tuned
