"""Tests for runner.tuning.describe: DescribeHyperParameterTuningJob and
ListTrainingJobsForHyperParameterTuningJob from stored records, checked against botocore's
output shapes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.model
import botocore.validate
import pytest

from runner.api.local_trials import local_tuner
from runner.core.clock import FakeClock
from runner.core.specs import LocalOptions, Spec
from runner.shapes import model as schema
from runner.shapes import status
from runner.shapes.status import training_job_arn, tuning_job_arn
from runner.shapes.training_jobs import to_timestamps
from runner.store.jobs import Store
from runner.training.context import RunContext
from runner.tuning.describe import (
    TrialView,
    best,
    describe_tuning_job,
    is_retryable,
    list_trials,
    not_improving,
    objective_counters,
    objective_status,
    objective_value,
    status_counters,
    summary,
)

T0 = 1_700_000_000.0
TUNING = "ntm-tune"
METRIC = "validation:total_loss"
DEFINITION = "training-job-definition"


def ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def training_record(
    name: str, final: str, created: float, value: float | None = None, reason: str | None = None,
    metric: str = METRIC, duration: float = 10.0,
) -> dict[str, Any]:
    """A training job's record as runner.training.run keeps it: created at ``created``, training
    from +1 s, and ending ``duration`` seconds after creation as ``final`` (or still running)."""
    record = status.new_record({"TrainingJobName": name}, training_job_arn(name), created)
    status.advance(record, "Downloading", created + 1)
    status.advance(record, "Training", created + 2)
    if final == "InProgress":
        return record
    if final == "Stopping":
        status.advance(record, "Stopping", created + 5)
        return record
    if value is not None:
        record["FinalMetricDataList"] = [
            {"MetricName": "train:loss", "Value": 9.0, "Timestamp": created + duration - 1},
            {"MetricName": metric, "Value": value, "Timestamp": created + duration - 1},
        ]
    if reason is not None:
        record["FailureReason"] = reason
    status.advance(record, final, created + duration)
    return record


def view(
    number: int, final: str, created: float, value: float | None = None, *,
    reason: str | None = None,
    direction: str = "Minimize", current: bool = True, duration: float = 10.0, attempt: str = "a",
) -> TrialView:
    name = f"{TUNING}-{number:03d}-{attempt * 8}"
    return TrialView(
        definition=DEFINITION,
        tuned={"learning_rate": f"0.0{number}", "optimizer": "adam"},
        record=training_record(name, final, created, value, reason, duration=duration),
        objective_metric=METRIC,
        objective_type=direction,
        current=current,
    )


def tuning_record(**extra: Any) -> dict[str, Any]:
    """A record as Tuner.create writes it (and Tuner._end completes it)."""
    record: dict[str, Any] = {
        "HyperParameterTuningJobName": TUNING,
        "HyperParameterTuningJobArn": tuning_job_arn(TUNING),
        "HyperParameterTuningJobStatus": "InProgress",
        "CreationTime": T0,
        "LastModifiedTime": T0,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": METRIC},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "learning_rate", "MinValue": "0.001", "MaxValue": "0.1",
                     "ScalingType": "Logarithmic"}
                ],
                "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["sgd", "adam"]}],
            },
            "TrainingJobEarlyStoppingType": "Off",
            "TuningJobCompletionCriteria": {"TargetObjectiveMetricValue": 0.01},
        },
        "TrainingJobDefinition": definition(),
    }
    record.update(extra)
    return record


def definition() -> dict[str, Any]:
    return {
        "StaticHyperParameters": {"epochs": "3"},
        "AlgorithmSpecification": {
            "TrainingImage": "smlocal/ntm:latest",
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": METRIC, "Regex": r"total_loss=(\S+)"}],
        },
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "InputDataConfig": [
            {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                                     "S3Uri": "file://data/train"}}}
        ],
        "OutputDataConfig": {"S3OutputPath": "file://out"},
        "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


def output_shape(operation: str) -> botocore.model.Shape:
    shape = schema.load_service_model().operation_model(operation).output_shape
    assert shape is not None
    return shape


def assert_valid(data: Any, shape: botocore.model.Shape) -> None:
    report = botocore.validate.ParamValidator().validate(data, shape)
    assert not report.has_errors(), report.generate_report()


def assert_pattern(shape: botocore.model.Shape, value: str) -> None:
    compiled = schema.compile_pattern(shape.metadata["pattern"])
    assert compiled is not None
    assert compiled.fullmatch(value), (shape.name, value)
    assert len(value) <= shape.metadata["max"]


# --- small pieces -------------------------------------------------------------------------------


def test_objective_value_picks_the_objective_metric() -> None:
    v = view(1, "Completed", T0, 0.25)
    assert objective_value(v.record, METRIC) == 0.25
    assert objective_value(v.record, "train:loss") == 9.0
    assert objective_value(v.record, "other") is None
    assert objective_value({"TrainingJobStatus": "Completed"}, METRIC) is None


def test_is_retryable() -> None:
    assert is_retryable(
        view(1, "Failed", T0, reason="InternalServerError: the container was killed").record)
    assert not is_retryable(view(1, "Failed", T0, reason="AlgorithmError: exit 1").record)
    assert not is_retryable(view(1, "Failed", T0).record)
    completed = view(1, "Completed", T0, 1.0).record
    completed["FailureReason"] = "InternalServerError: odd"
    assert not is_retryable(completed)


@pytest.mark.parametrize(
    "final,value,expected",
    [
        ("InProgress", None, "Pending"),
        ("Stopping", None, "Pending"),
        ("Completed", 0.5, "Succeeded"),
        ("Stopped", 0.5, "Succeeded"),
        ("Completed", None, "Failed"),
        ("Stopped", None, "Failed"),
        ("Failed", 0.5, "Failed"),
        ("Failed", None, "Failed"),
    ],
)
def test_objective_status(final: str, value: float | None, expected: str) -> None:
    assert objective_status(view(1, final, T0, value)) == expected


# --- summary --------------------------------------------------------------------------------------


def test_summary_of_a_completed_trial() -> None:
    v = view(3, "Completed", T0, 0.125)
    assert summary(v, TUNING) == {
        "TrainingJobDefinitionName": DEFINITION,
        "TrainingJobName": "ntm-tune-003-aaaaaaaa",
        "TrainingJobArn": (
            "arn:aws:sagemaker:us-east-1:000000000000:training-job/ntm-tune-003-aaaaaaaa"
        ),
        "TuningJobName": TUNING,
        "CreationTime": T0,
        "TrainingStartTime": T0 + 1,
        "TrainingEndTime": T0 + 10,
        "TrainingJobStatus": "Completed",
        "TunedHyperParameters": {"learning_rate": "0.03", "optimizer": "adam"},
        "ObjectiveStatus": "Succeeded",
        "FinalHyperParameterTuningJobObjectiveMetric": {
            "Type": "Minimize",
            "MetricName": METRIC,
            "Value": 0.125,
        },
    }


def test_summary_of_a_failed_trial_has_no_objective() -> None:
    v = view(2, "Failed", T0, 0.5, reason="AlgorithmError: exit 1")
    s = summary(v, TUNING)
    assert s["TrainingJobStatus"] == "Failed"
    assert s["ObjectiveStatus"] == "Failed"
    assert s["FailureReason"] == "AlgorithmError: exit 1"
    assert "FinalHyperParameterTuningJobObjectiveMetric" not in s


def test_summary_of_a_running_trial() -> None:
    s = summary(view(2, "InProgress", T0), TUNING)
    assert s["ObjectiveStatus"] == "Pending"
    assert "TrainingEndTime" not in s and "FailureReason" not in s
    assert s["TrainingStartTime"] == T0 + 1


def test_summary_tuned_hyperparameters_is_a_copy() -> None:
    v = view(1, "Completed", T0, 1.0)
    s = summary(v, TUNING)
    s["TunedHyperParameters"]["optimizer"] = "sgd"
    assert v.tuned["optimizer"] == "adam"


@pytest.mark.parametrize(
    "final,value,reason",
    [
        ("Completed", 0.5, None),
        ("Stopped", 0.5, None),
        ("Completed", None, None),
        ("Failed", None, "InternalServerError: killed"),
        ("InProgress", None, None),
        ("Stopping", None, None),
    ],
)
def test_summary_matches_the_service_shape(
    final: str, value: float | None, reason: str | None
) -> None:
    shape = schema.load_service_model().shape_for("HyperParameterTrainingJobSummary")
    s = to_timestamps(summary(view(12, final, T0, value, reason=reason, direction="Maximize"),
                              "a" * 32))
    assert_valid(s, shape)
    assert isinstance(s["CreationTime"], datetime)
    assert s["CreationTime"] == ts(T0)
    members = shape.members  # type: ignore[attr-defined]
    assert_pattern(members["TrainingJobName"], s["TrainingJobName"])
    assert_pattern(members["TrainingJobArn"], s["TrainingJobArn"])
    assert_pattern(members["TuningJobName"], s["TuningJobName"])
    assert_pattern(members["TrainingJobDefinitionName"], s["TrainingJobDefinitionName"])
    assert s["ObjectiveStatus"] in members["ObjectiveStatus"].enum
    assert s["TrainingJobStatus"] in members["TrainingJobStatus"].enum


# --- counters -------------------------------------------------------------------------------------


def test_status_counters() -> None:
    views = [
        view(1, "Completed", T0, 0.5),
        view(2, "Completed", T0, None),
        view(3, "Failed", T0,
             reason="InternalServerError: the container was killed from outside smlocal"),
        view(4, "Failed", T0, reason="AlgorithmError: the container exited with code 1."),
        view(5, "Failed", T0),
        view(6, "InProgress", T0),
        view(7, "Stopping", T0),
        view(8, "Stopped", T0, 0.1),
    ]
    assert status_counters(views) == {
        "Completed": 2, "InProgress": 2, "RetryableError": 1, "NonRetryableError": 2, "Stopped": 1,
    }
    assert status_counters([]) == {
        "Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0,
    }


def test_objective_counters() -> None:
    views = [
        view(1, "Completed", T0, 0.5),
        view(2, "Stopped", T0, 0.7),
        view(3, "Completed", T0, None),
        view(4, "Stopped", T0, None),
        view(5, "Failed", T0, 0.1, reason="AlgorithmError: x"),
        view(6, "InProgress", T0),
        view(7, "Stopping", T0),
    ]
    assert objective_counters(views) == {"Succeeded": 2, "Pending": 2, "Failed": 3}
    assert objective_counters([]) == {"Succeeded": 0, "Pending": 0, "Failed": 0}


# --- best / not_improving -------------------------------------------------------------------------


def test_best_minimize_and_maximize() -> None:
    values = [0.5, 0.2, 0.9, 0.2]
    low = [summary(view(i + 1, "Completed", T0 + i, v), TUNING) for i, v in enumerate(values)]
    winner = best(low)
    # the first of the tie
    assert winner is not None and winner["TrainingJobName"] == "ntm-tune-002-aaaaaaaa"
    high = [summary(view(i + 1, "Completed", T0 + i, v, direction="Maximize"), TUNING)
            for i, v in enumerate(values)]
    winner = best(high)
    assert winner is not None and winner["TrainingJobName"] == "ntm-tune-003-aaaaaaaa"


def test_best_skips_trials_without_a_succeeded_objective() -> None:
    summaries = [
        summary(view(1, "Failed", T0, 0.01, reason="AlgorithmError: x"), TUNING),
        summary(view(2, "InProgress", T0), TUNING),
        summary(view(3, "Completed", T0, None), TUNING),
        summary(view(4, "Stopped", T0, 0.4), TUNING),
        summary(view(5, "Completed", T0, 0.6), TUNING),
    ]
    winner = best(summaries)
    assert winner is not None and winner["TrainingJobName"] == "ntm-tune-004-aaaaaaaa"
    assert best(summaries[:3]) is None
    assert best([]) is None


def test_not_improving_counts_trials_since_the_best_in_the_order_given() -> None:
    views = [
        view(1, "Completed", T0, 0.5),
        view(2, "Completed", T0 + 20, 0.1),
        view(3, "Completed", T0 + 30, 0.3),
        view(4, "Stopped", T0 + 40, 0.2),
        view(5, "Failed", T0 + 50, 0.01, reason="AlgorithmError: x"),
        view(6, "InProgress", T0 + 60),
        view(7, "Completed", T0 + 70, None),
    ]
    assert not_improving(views) == 2
    # the order of the views (trial_views: trial number order) is the order counted in
    assert not_improving(list(reversed(views))) == 1  # 0.2, 0.3 (no), 0.1 (yes), 0.5 (no)
    assert not_improving([]) == 0
    assert not_improving(views[4:]) == 0
    assert not_improving(views[:2]) == 0
    # a tie does not improve
    assert not_improving([*views[:2], view(8, "Completed", T0 + 80, 0.1)]) == 1


@pytest.mark.parametrize(
    "values,direction,count",
    [
        ([1.0, 0.995], "Minimize", 1),  # 0.5% better: not an improvement
        ([1.0, 0.99], "Minimize", 0),  # 1% better: an improvement
        ([1.0, 0.995, 0.994, 0.993], "Minimize", 3),
        ([1.0, 0.995, 0.994, 0.989], "Minimize", 0),  # small gains adding up to 1%
        ([2.0, 2.01], "Maximize", 1),
        ([2.0, 2.02], "Maximize", 0),
        ([0.5, 0.1, 0.3], "Maximize", 2),
        ([0.5, 0.1, 0.3, 0.8], "Maximize", 0),
    ],
)
def test_not_improving_needs_a_1_percent_gain(
    values: list[float], direction: str, count: int
) -> None:
    views = [view(i + 1, "Completed", T0 + i, v, direction=direction) for i, v in enumerate(values)]
    assert not_improving(views) == count


def test_not_improving_agrees_with_the_completion_criterion() -> None:
    import random

    from runner.tuning.completion import not_improving_count
    from runner.tuning.trials import Direction, Trial, TrialStatus

    rng = random.Random(7)
    for direction in Direction:
        for _ in range(50):
            values = [round(rng.uniform(0.5, 1.5), 3) for _ in range(rng.randint(1, 12))]
            views = [view(i + 1, "Completed", T0 + i, v, direction=direction.value)
                     for i, v in enumerate(values)]
            history = [Trial(i, {}, TrialStatus.COMPLETED, v) for i, v in enumerate(values)]
            assert not_improving(views) == not_improving_count(history, direction)


# --- describe_tuning_job --------------------------------------------------------------------------


def trial_set() -> list[TrialView]:
    """Trial 1 completed (0.5); trial 2 failed for the infrastructure and was retried (0.2);
    trial 3 failed in the algorithm; trial 4 still running."""
    return [
        view(1, "Completed", T0 + 1, 0.5),
        view(2, "Failed", T0 + 2, reason="InternalServerError: the container was killed",
             current=False),
        view(2, "Completed", T0 + 20, 0.2, attempt="b"),
        view(3, "Failed", T0 + 3, reason="AlgorithmError: the container exited with code 1."),
        view(4, "InProgress", T0 + 40),
    ]


def test_describe_tuning_job_in_progress() -> None:
    record = tuning_record()
    out = describe_tuning_job(record, trial_set(), now=T0 + 100)
    assert_valid(out, output_shape("DescribeHyperParameterTuningJob"))
    assert out["HyperParameterTuningJobName"] == TUNING
    assert out["HyperParameterTuningJobArn"] == (
        "arn:aws:sagemaker:us-east-1:000000000000:hyper-parameter-tuning-job/ntm-tune"
    )
    assert out["HyperParameterTuningJobStatus"] == "InProgress"
    assert out["CreationTime"] == ts(T0)
    assert out["LastModifiedTime"] == ts(T0)
    assert out["HyperParameterTuningJobConfig"] == record["HyperParameterTuningJobConfig"]
    definition = record["TrainingJobDefinition"]
    # as the service
    assert out["TrainingJobDefinition"] == {**definition, "StaticHyperParameters": {
        **definition["StaticHyperParameters"], "_tuning_objective_metric": "validation:total_loss"}}
    assert out["TrainingJobStatusCounters"] == {
        "Completed": 2, "InProgress": 1, "RetryableError": 1, "NonRetryableError": 1, "Stopped": 0,
    }
    # the replaced attempt does not count for the objective
    assert out["ObjectiveStatusCounters"] == {"Succeeded": 2, "Pending": 1, "Failed": 1}
    best_job = out["BestTrainingJob"]
    assert best_job["TrainingJobName"] == "ntm-tune-002-bbbbbbbb"
    assert best_job["FinalHyperParameterTuningJobObjectiveMetric"] == {
        "Type": "Minimize", "MetricName": METRIC, "Value": 0.2,
    }
    assert best_job["CreationTime"] == ts(T0 + 20)
    assert out["TuningJobCompletionDetails"] == {"NumberOfTrainingJobsObjectiveNotImproving": 0}
    assert out["ConsumedResources"] == {"RuntimeInSeconds": 100}
    assert "HyperParameterTuningEndTime" not in out
    assert "FailureReason" not in out


def test_a_tuning_resource_config_is_described_as_a_resource_config_too() -> None:
    """What the SDK's HyperparameterTuner.attach reads (it sends the tuning kind, and reads
    ResourceConfig back); with several InstanceConfigs, the first."""
    record = tuning_record()
    definition = record["TrainingJobDefinition"]
    definition.pop("ResourceConfig", None)
    definition["HyperParameterTuningResourceConfig"] = {
        "InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30}
    out = describe_tuning_job(record, trial_set(), now=T0 + 100)
    assert_valid(out, output_shape("DescribeHyperParameterTuningJob"))
    assert out["TrainingJobDefinition"]["ResourceConfig"] == {
        "InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30}
    definition["HyperParameterTuningResourceConfig"] = {"InstanceConfigs": [
        {"InstanceType": "ml.c5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 5},
        {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5}],
        "AllocationStrategy": "Prioritized"}
    out = describe_tuning_job(record, trial_set(), now=T0 + 100)
    assert out["TrainingJobDefinition"]["ResourceConfig"]["InstanceType"] == "ml.c5.xlarge"
    assert "ResourceConfig" not in record["TrainingJobDefinition"]  # (the record unchanged)


def test_describe_tuning_job_completed_with_convergence() -> None:
    record = tuning_record(
        HyperParameterTuningJobStatus="Completed", LastModifiedTime=T0 + 90.4,
        HyperParameterTuningEndTime=T0 + 90.4, ConvergenceDetectedTime=T0 + 88,
    )
    views = [view(1, "Completed", T0 + 1, 0.3), view(2, "Completed", T0 + 20, 0.4),
             view(3, "Stopped", T0 + 40, 0.5)]
    out = describe_tuning_job(record, views, now=T0 + 5000)
    assert_valid(out, output_shape("DescribeHyperParameterTuningJob"))
    assert out["HyperParameterTuningEndTime"] == ts(T0 + 90.4)
    assert out["ConsumedResources"] == {"RuntimeInSeconds": 90}  # to the end, not to now
    assert out["TuningJobCompletionDetails"] == {
        "NumberOfTrainingJobsObjectiveNotImproving": 2,
        "ConvergenceDetectedTime": ts(T0 + 88),
    }
    assert "ConvergenceDetectedTime" not in out  # bookkeeping of the record, not a member
    assert out["BestTrainingJob"]["TrainingJobName"] == "ntm-tune-001-aaaaaaaa"
    assert out["TrainingJobStatusCounters"]["Stopped"] == 1


def test_describe_tuning_job_failed_without_any_objective() -> None:
    record = tuning_record(
        HyperParameterTuningJobStatus="Failed", HyperParameterTuningEndTime=T0 + 30,
        FailureReason="All training jobs failed; see their FailureReason (smlocal trials).",
    )
    views = [view(1, "Failed", T0 + 1, reason="AlgorithmError: x"),
             view(2, "Failed", T0 + 2, reason="AlgorithmError: y")]
    out = describe_tuning_job(record, views, now=T0 + 100)
    assert_valid(out, output_shape("DescribeHyperParameterTuningJob"))
    assert "BestTrainingJob" not in out
    assert out["FailureReason"] == record["FailureReason"]
    assert out["ObjectiveStatusCounters"] == {"Succeeded": 0, "Pending": 0, "Failed": 2}
    assert out["TrainingJobStatusCounters"]["NonRetryableError"] == 2
    assert out["ConsumedResources"] == {"RuntimeInSeconds": 30}


def test_describe_tuning_job_leaves_out_what_is_not_in_the_shape() -> None:
    record = tuning_record(SmlocalOwn="x", ExitCode=3)
    out = describe_tuning_job(record, [], now=T0 + 0.4)
    assert "SmlocalOwn" not in out and "ExitCode" not in out
    members = set(output_shape("DescribeHyperParameterTuningJob").members)  # type: ignore[attr-defined]
    assert set(out) <= members
    assert out["ConsumedResources"] == {"RuntimeInSeconds": 0}
    assert out["TrainingJobStatusCounters"] == {
        "Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0,
    }
    assert_valid(out, output_shape("DescribeHyperParameterTuningJob"))


def test_describe_tuning_job_with_several_definitions() -> None:
    record = tuning_record()
    one = record.pop("TrainingJobDefinition")
    config = record["HyperParameterTuningJobConfig"]
    objective, ranges = (config.pop("HyperParameterTuningJobObjective"),
                         config.pop("ParameterRanges"))
    record["TrainingJobDefinitions"] = [
        {**one, "DefinitionName": "a", "TuningObjective": objective,
         "HyperParameterRanges": ranges},
        {**one, "DefinitionName": "b", "TuningObjective": objective,
         "HyperParameterRanges": ranges},
    ]
    views = [view(1, "Completed", T0, 0.3), view(2, "Completed", T0, 0.2)]
    views = [TrialView("a", views[0].tuned, views[0].record, METRIC, "Minimize"),
             TrialView("b", views[1].tuned, views[1].record, METRIC, "Minimize")]
    out = describe_tuning_job(record, views, now=T0 + 50)
    assert_valid(out, output_shape("DescribeHyperParameterTuningJob"))
    assert out["BestTrainingJob"]["TrainingJobDefinitionName"] == "b"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "home")
    yield s
    s.close()


def test_describe_tuning_job_of_the_record_tuner_create_writes(
    store: Store, tmp_path: Path
) -> None:
    request = {
        "HyperParameterTuningJobName": TUNING,
        "HyperParameterTuningJobConfig": tuning_record()["HyperParameterTuningJobConfig"],
        "TrainingJobDefinition": definition(),
    }
    clock = FakeClock(T0)
    tuner = local_tuner(
        Spec(request, LocalOptions(), tmp_path),
        RunContext(store=store, backend=None, clock=clock),  # type: ignore[arg-type]
    )
    record = tuner.create()
    assert record == tuning_record()
    out = describe_tuning_job(record, trial_set(), now=T0 + 12)
    assert_valid(out, output_shape("DescribeHyperParameterTuningJob"))
    assert out["ConsumedResources"] == {"RuntimeInSeconds": 12}
    assert out["BestTrainingJob"]["TrainingJobName"] == "ntm-tune-002-bbbbbbbb"


# --- list_trials ----------------------------------------------------------------------------------


def listing_views(direction: str = "Minimize") -> list[TrialView]:
    return [
        view(1, "Completed", T0 + 30, 0.5, direction=direction),
        view(2, "Failed", T0 + 10, reason="AlgorithmError: x", direction=direction),
        view(3, "Stopped", T0 + 20, 0.1, direction=direction),
        view(4, "InProgress", T0 + 40, direction=direction),
        view(5, "Completed", T0 + 5, 0.9, direction=direction),
        view(6, "Completed", T0 + 50, None, direction=direction),
    ]


def numbers(listing: dict[str, Any]) -> list[int]:
    return [int(s["TrainingJobName"].split("-")[2]) for s in listing["TrainingJobSummaries"]]


@pytest.mark.parametrize(
    "sort_by,order,expected",
    [
        ("Name", "Ascending", [1, 2, 3, 4, 5, 6]),
        ("Name", "Descending", [6, 5, 4, 3, 2, 1]),
        ("CreationTime", "Ascending", [5, 2, 3, 1, 4, 6]),
        ("CreationTime", "Descending", [6, 4, 1, 3, 2, 5]),
        ("Status", "Ascending", [1, 5, 6, 2, 4, 3]),
        ("Status", "Descending", [3, 4, 2, 1, 5, 6]),
        ("FinalObjectiveMetricValue", "Ascending", [3, 1, 5, 2, 4, 6]),
        ("FinalObjectiveMetricValue", "Descending", [5, 1, 3, 2, 4, 6]),
    ],
)
def test_list_trials_sorting(sort_by: str, order: str, expected: list[int]) -> None:
    listing = list_trials(listing_views(), TUNING, sort_by=sort_by, sort_order=order)
    assert numbers(listing) == expected


def test_list_trials_defaults_to_name_ascending() -> None:
    assert numbers(list_trials(list(reversed(listing_views())), TUNING)) == [1, 2, 3, 4, 5, 6]


def test_list_trials_objective_sort_puts_jobs_without_objective_last() -> None:
    for order in ("Ascending", "Descending"):
        listing = list_trials(listing_views("Maximize"), TUNING,
                              sort_by="FinalObjectiveMetricValue", sort_order=order)
        tail = listing["TrainingJobSummaries"][3:]
        assert all("FinalHyperParameterTuningJobObjectiveMetric" not in s for s in tail)
        assert [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
                for s in listing["TrainingJobSummaries"][:3]] == (
            [0.1, 0.5, 0.9] if order == "Ascending" else [0.9, 0.5, 0.1]
        )


@pytest.mark.parametrize(
    "status_equals,expected",
    [("Completed", [1, 5, 6]), ("Failed", [2]), ("Stopped", [3]), ("InProgress", [4]),
     ("Stopping", []), (None, [1, 2, 3, 4, 5, 6])],
)
def test_list_trials_status_filter(status_equals: str | None, expected: list[int]) -> None:
    assert numbers(list_trials(listing_views(), TUNING, status_equals=status_equals)) == expected


def test_list_trials_filter_and_sort_together() -> None:
    listing = list_trials(
        listing_views(), TUNING, status_equals="Completed", sort_by="FinalObjectiveMetricValue",
        sort_order="Descending"
    )
    assert numbers(listing) == [5, 1, 6]


def test_list_trials_output_shape() -> None:
    views = [*listing_views(), view(7, "Stopping", T0 + 60),
             view(1, "Failed", T0, reason="InternalServerError: x", current=False, attempt="z")]
    listing = list_trials(views, TUNING, sort_by="FinalObjectiveMetricValue")
    assert_valid(listing, output_shape("ListTrainingJobsForHyperParameterTuningJob"))
    assert set(listing) == {"TrainingJobSummaries"}
    assert len(listing["TrainingJobSummaries"]) == 8  # replaced attempts are listed too
    first = listing["TrainingJobSummaries"][0]
    assert first["CreationTime"] == ts(T0 + 20)
    assert first["TrainingEndTime"] == ts(T0 + 30)
    assert first["TuningJobName"] == TUNING


def test_every_definition_names_its_own_objective() -> None:
    record = tuning_record()
    single = record.pop("TrainingJobDefinition")
    record["TrainingJobDefinitions"] = [
        {**single, "DefinitionName": "a",
         "TuningObjective": {"Type": "Minimize", "MetricName": "m:a"}},
        {**single, "DefinitionName": "b"},
    ]
    out = describe_tuning_job(record, [], now=T0 + 1)
    metrics = [d["StaticHyperParameters"]["_tuning_objective_metric"]
               for d in out["TrainingJobDefinitions"]]
    assert metrics == ["m:a", "validation:total_loss"]
