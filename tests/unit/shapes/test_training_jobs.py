"""Tests for runner.shapes.training_jobs: records as DescribeTrainingJob / ListTrainingJobs return
them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.model
import botocore.validate
import pytest

from runner.core.clock import FakeClock
from runner.shapes import model as schema
from runner.shapes import status
from runner.shapes import training_jobs as describe

T0 = 1_700_000_000.0
ARN = "arn:aws:sagemaker:us-east-1:000000000000:training-job/demo-1"
REQUEST: dict[str, Any] = {
    "TrainingJobName": "demo-1",
    "AlgorithmSpecification": {
        "TrainingImage": "smlocal/demo:latest",
        "TrainingInputMode": "File",
        "MetricDefinitions": [{"Name": "train:loss", "Regex": r"loss=(\S+)"}],
    },
    "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
    "HyperParameters": {"epochs": "2", "lr": "0.1"},
    "InputDataConfig": [
        {
            "ChannelName": "train",
            "ContentType": "text/csv",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": "file://data/train",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        }
    ],
    "OutputDataConfig": {"S3OutputPath": "file://out"},
    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
    "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    "Environment": {"MODE": "test"},
}


def dt(seconds: float) -> datetime:
    return datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC) + timedelta(seconds=seconds - T0)


def output_shape(operation: str) -> botocore.model.Shape:
    shape = schema.load_service_model().operation_model(operation).output_shape
    assert shape is not None
    return shape


def assert_valid_output(data: dict[str, Any], operation: str) -> None:
    report = botocore.validate.ParamValidator().validate(data, output_shape(operation))
    assert not report.has_errors(), report.generate_report()


def completed_record() -> dict[str, Any]:
    """A record as a completed run leaves it (see training.TrainingRun)."""
    clock = FakeClock(T0)
    record = status.new_record(REQUEST, ARN, clock.now())
    for key in ("HyperParameters", "AlgorithmSpecification", "RoleArn", "InputDataConfig",
                "OutputDataConfig", "ResourceConfig", "StoppingCondition", "Environment"):
        record[key] = REQUEST[key]
    for step in ("Downloading", "Training", "Uploading"):
        clock.advance(10)
        status.advance(record, step, clock.now())
    record["ModelArtifacts"] = {"S3ModelArtifacts": "file:///work/out/demo-1/output/model.tar.gz"}
    record["ExitCode"] = 0
    record["FinalMetricDataList"] = [
        {"MetricName": "train:loss", "Value": 0.125, "Timestamp": T0 + 25},
    ]
    clock.advance(10)
    status.advance(record, "Completed", clock.now())
    return record


def test_sample_time() -> None:
    assert dt(T0) == datetime.fromtimestamp(T0, UTC)


def test_to_timestamps_makes_aware_datetimes_recursively() -> None:
    got = describe.to_timestamps({
        "CreationTime": T0,
        "TrainingStartTime": 1_700_000_001,  # an int too
        "SecondaryStatusTransitions": [{"Status": "Starting", "StartTime": T0,
                                        "EndTime": T0 + 1.5}],
        "FinalMetricDataList": [{"MetricName": "m", "Value": 1.0, "Timestamp": T0 + 2}],
        "TrainingTimeInSeconds": 7,  # not a time key: stays a number
        "Nested": {"deeper": [{"LastModifiedTime": T0 + 3}]},
    })
    assert got == {
        "CreationTime": dt(T0),
        "TrainingStartTime": dt(T0 + 1),
        "SecondaryStatusTransitions": [{"Status": "Starting", "StartTime": dt(T0),
                                        "EndTime": dt(T0 + 1.5)}],
        "FinalMetricDataList": [{"MetricName": "m", "Value": 1.0, "Timestamp": dt(T0 + 2)}],
        "TrainingTimeInSeconds": 7,
        "Nested": {"deeper": [{"LastModifiedTime": dt(T0 + 3)}]},
    }
    assert got["CreationTime"].tzinfo is not None
    assert got["CreationTime"].utcoffset() == timedelta(0)


def test_to_timestamps_leaves_strings_and_other_values_alone() -> None:
    data = {"CreationTime": "2023-01-01", "Environment": {"StartTime": "5"}, "x": [1, "a", None]}
    assert describe.to_timestamps(data) == data


def test_to_timestamps_does_not_change_its_input() -> None:
    record = completed_record()
    before = json.dumps(record, sort_keys=True)
    describe.describe_training_job(record)
    assert json.dumps(record, sort_keys=True) == before


def test_describe_drops_unknown_keys() -> None:
    record = completed_record()
    record["SmlocalScratch"] = {"anything": 1}
    got = describe.describe_training_job(record)
    assert "ExitCode" not in got
    assert "SmlocalScratch" not in got
    members = set(output_shape("DescribeTrainingJob").members)
    assert set(got) <= members
    assert set(got) == (set(record) - {"ExitCode", "SmlocalScratch"})


def test_describe_of_a_completed_run() -> None:
    got = describe.describe_training_job(completed_record())
    assert got["TrainingJobName"] == "demo-1"
    assert got["TrainingJobArn"] == ARN
    assert got["TrainingJobStatus"] == "Completed"
    assert got["SecondaryStatus"] == "Completed"
    assert got["CreationTime"] == dt(T0)
    assert got["TrainingStartTime"] == dt(T0 + 10)
    assert got["TrainingEndTime"] == dt(T0 + 40)
    assert got["LastModifiedTime"] == dt(T0 + 40)
    assert got["TrainingTimeInSeconds"] == 30
    assert got["BillableTimeInSeconds"] == 30
    assert got["HyperParameters"] == {"epochs": "2", "lr": "0.1"}
    assert got["FinalMetricDataList"] == [
        {"MetricName": "train:loss", "Value": 0.125, "Timestamp": dt(T0 + 25)}
    ]
    assert [(t["Status"], t["StartTime"], t.get("EndTime"))
            for t in got["SecondaryStatusTransitions"]] == [
        ("Starting", dt(T0), dt(T0 + 10)),
        ("Downloading", dt(T0 + 10), dt(T0 + 20)),
        ("Training", dt(T0 + 20), dt(T0 + 30)),
        ("Uploading", dt(T0 + 30), dt(T0 + 40)),
        ("Completed", dt(T0 + 40), dt(T0 + 40)),
    ]


def test_describe_of_a_completed_run_matches_the_service_output_shape() -> None:
    assert_valid_output(describe.describe_training_job(completed_record()), "DescribeTrainingJob")


@pytest.mark.parametrize("end", ["Failed", "Stopped", "MaxRuntimeExceeded"])
def test_describe_of_other_endings_matches_the_service_output_shape(end: str) -> None:
    record = status.new_record(REQUEST, ARN, T0)
    for key in ("AlgorithmSpecification", "ResourceConfig", "StoppingCondition", "RoleArn"):
        record[key] = REQUEST[key]
    status.advance(record, "Downloading", T0 + 1)
    status.advance(record, "Training", T0 + 2)
    if end == "Stopped":
        status.advance(record, "Stopping", T0 + 3)
    record["ModelArtifacts"] = {"S3ModelArtifacts": "file:///out/model.tar.gz"}
    if end == "Failed":
        record["FailureReason"] = "AlgorithmError: the container exited with code 1."
        record["ExitCode"] = 1
    status.advance(record, end, T0 + 4)
    got = describe.describe_training_job(record)
    assert_valid_output(got, "DescribeTrainingJob")
    assert "ExitCode" not in got


def test_the_shape_check_can_fail() -> None:
    # A wrong type or an unknown key does not pass: the checks above mean something.
    report = botocore.validate.ParamValidator().validate(completed_record(),
                                                         output_shape("DescribeTrainingJob"))
    assert report.has_errors()
    assert "ExitCode" in report.generate_report()
    data = describe.describe_training_job(completed_record())
    data["TrainingTimeInSeconds"] = "thirty"
    report = botocore.validate.ParamValidator().validate(data, output_shape("DescribeTrainingJob"))
    assert report.has_errors()
    assert "TrainingTimeInSeconds" in report.generate_report()


def test_to_json_is_json_with_iso_timestamps() -> None:
    text = describe.to_json(describe.describe_training_job(completed_record()))
    data = json.loads(text)
    assert data["CreationTime"] == "2023-11-14T22:13:20+00:00"
    assert data["TrainingEndTime"] == "2023-11-14T22:14:00+00:00"
    assert data["SecondaryStatusTransitions"][0] == {
        "Status": "Starting",
        "StartTime": "2023-11-14T22:13:20+00:00",
        "EndTime": "2023-11-14T22:13:30+00:00",
        "StatusMessage": "Preparing the instances for training",
    }
    assert data["FinalMetricDataList"][0]["Timestamp"] == "2023-11-14T22:13:45+00:00"
    assert datetime.fromisoformat(data["LastModifiedTime"]) == dt(T0 + 40)
    assert "ExitCode" not in data
    assert text.startswith("{\n    \"")  # indented by 4, as the AWS CLI prints


def test_to_json_fractional_seconds() -> None:
    data = json.loads(describe.to_json(describe.to_timestamps({"CreationTime": T0 + 0.25})))
    assert data == {"CreationTime": "2023-11-14T22:13:20.250000+00:00"}


def test_to_json_refuses_other_objects() -> None:
    with pytest.raises(TypeError, match="not JSON serialisable: set"):
        describe.to_json({"x": {1}})


def test_training_job_summary() -> None:
    record = completed_record()
    summary = describe.training_job_summary(record)
    assert summary == {
        "TrainingJobName": "demo-1",
        "TrainingJobArn": ARN,
        "CreationTime": dt(T0),
        "TrainingEndTime": dt(T0 + 40),
        "LastModifiedTime": dt(T0 + 40),
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
    }
    assert_valid_output({"TrainingJobSummaries": [summary]}, "ListTrainingJobs")


def test_training_job_summary_of_a_running_job() -> None:
    summary = describe.training_job_summary(status.new_record(REQUEST, ARN, T0))
    assert "TrainingEndTime" not in summary
    assert summary["TrainingJobStatus"] == "InProgress"
    assert_valid_output({"TrainingJobSummaries": [summary]}, "ListTrainingJobs")


def test_output_members() -> None:
    members = describe.output_members("DescribeTrainingJob")
    assert {"TrainingJobName", "FinalMetricDataList", "SecondaryStatusTransitions"} <= members
    assert "ExitCode" not in members
    assert describe.output_members("StopTrainingJob") == frozenset()


def test_output_data_config_carries_kms_key_id_empty_when_unset() -> None:
    record = completed_record()
    record["OutputDataConfig"] = {"S3OutputPath": "s3://b/out"}
    got = describe.describe_training_job(record)
    # as the service
    assert got["OutputDataConfig"] == {"KmsKeyId": "", "S3OutputPath": "s3://b/out"}
    record["OutputDataConfig"]["KmsKeyId"] = "alias/mine"
    assert describe.describe_training_job(record)["OutputDataConfig"]["KmsKeyId"] == "alias/mine"
    assert ("KmsKeyId" not in record["OutputDataConfig"]
            or record["OutputDataConfig"]["KmsKeyId"] == "alias/mine")
