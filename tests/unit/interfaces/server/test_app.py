"""``smlocal serve`` answering boto3's own SageMaker client over real HTTP (uvicorn on a free
port), with jobs run on the fake engine: the wire format, the operations, AWS's error shapes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.unit.interfaces.server.conftest import IMAGE, post


def client(service: str, endpoint: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="smlocal", aws_secret_access_key="smlocal-secret")


@pytest.fixture
def sm(endpoint: str) -> Any:
    return client("sagemaker", endpoint)


def training_request(tmp_path: Path, name: str, **hps: str) -> dict[str, Any]:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "rows.csv").write_text("1\n")
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File",
                                   "MetricDefinitions": [{"Name": "loss", "Regex": "loss=(\\S+)"}]},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "HyperParameters": {"epochs": "2", **hps},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "file://data"}}}],
        "OutputDataConfig": {"S3OutputPath": "file://output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def wait(sm: Any, name: str) -> None:
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def test_boto3_creates_waits_for_and_describes_a_training_job(sm: Any, tmp_path: Path) -> None:
    arn = sm.create_training_job(**training_request(tmp_path, "served-1"))["TrainingJobArn"]
    assert arn.endswith(":training-job/served-1")
    wait(sm, "served-1")
    described = sm.describe_training_job(TrainingJobName="served-1")
    assert described["TrainingJobStatus"] == "Completed"
    assert described["TrainingJobArn"] == arn
    # a timestamp on the wire, parsed by botocore
    assert described["CreationTime"].tzinfo is not None
    assert described["FinalMetricDataList"][0]["MetricName"] == "loss"
    assert described["ModelArtifacts"]["S3ModelArtifacts"].endswith("served-1/output/model.tar.gz")
    assert (tmp_path / "output" / "served-1" / "output" / "model.tar.gz").is_file()


def test_refusals_come_back_in_aws_error_shapes(sm: Any, tmp_path: Path) -> None:
    bad = training_request(tmp_path, "served-bad")
    bad["AlgorithmSpecification"]["TrainingImage"] = "fake/none:latest"
    with pytest.raises(ClientError) as caught:
        sm.create_training_job(**bad)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "AlgorithmSpecification.TrainingImage" in error["Message"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(sm.exceptions.ResourceNotFound):
        sm.describe_training_job(TrainingJobName="never-made")
    sm.create_training_job(**training_request(tmp_path, "served-2"))
    with pytest.raises(ClientError) as caught:
        sm.create_training_job(**training_request(tmp_path, "served-2"))
    assert caught.value.response["Error"]["Code"] == "ResourceInUse"
    with pytest.raises(ClientError) as caught:
        sm.list_models()
    assert caught.value.response["Error"]["Code"] == "UnknownOperationException"
    wait(sm, "served-2")


def test_list_training_jobs_pages_sorts_and_filters(sm: Any, tmp_path: Path) -> None:
    for i in range(5):
        sm.create_training_job(**training_request(tmp_path, f"page-{i}"))
        time.sleep(0.01)
    for i in range(5):
        wait(sm, f"page-{i}")
    pages = sm.get_paginator("list_training_jobs").paginate(PaginationConfig={"PageSize": 2})
    names = [s["TrainingJobName"] for p in pages for s in p["TrainingJobSummaries"]]
    assert names == [f"page-{i}" for i in reversed(range(5))]  # newest first
    listed = sm.list_training_jobs(SortBy="Name", SortOrder="Ascending", NameContains="page-3")
    assert [s["TrainingJobName"] for s in listed["TrainingJobSummaries"]] == ["page-3"]
    assert sm.list_training_jobs(StatusEquals="InProgress")["TrainingJobSummaries"] == []


def test_a_stop_stops_the_running_job(sm: Any, tmp_path: Path) -> None:
    sm.create_training_job(**training_request(tmp_path, "long", epochs="100000", pause="0.05"))
    deadline = time.monotonic() + 10
    while sm.describe_training_job(TrainingJobName="long")["SecondaryStatus"] != "Training":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    sm.stop_training_job(TrainingJobName="long")
    wait(sm, "long")
    assert sm.describe_training_job(TrainingJobName="long")["TrainingJobStatus"] == "Stopped"


def test_a_tuning_job_runs_and_lists_its_trials(sm: Any, tmp_path: Path) -> None:
    definition = training_request(tmp_path, "unused")
    for key in ("TrainingJobName", "HyperParameters"):
        definition.pop(key)
    definition["StaticHyperParameters"] = {"epochs": "2"}
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="served-tuning",
        HyperParameterTuningJobConfig={
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {"ContinuousParameterRanges": [{"Name": "x", "MinValue": "0",
                                                               "MaxValue": "6"}]},
        },
        TrainingJobDefinition=definition,
    )
    deadline = time.monotonic() + 60
    while True:
        described = sm.describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName="served-tuning")
        if described["HyperParameterTuningJobStatus"] != "InProgress":
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"]["Completed"] == 4
    best = described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    trials = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="served-tuning", SortBy="FinalObjectiveMetricValue",
        MaxResults=3)
    assert len(trials["TrainingJobSummaries"]) == 3 and "NextToken" in trials
    assert (
        trials["TrainingJobSummaries"][0]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        == best)
    listed = sm.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
    assert ([(s["HyperParameterTuningJobName"], s["Strategy"]) for s in listed]
            == [("served-tuning", "Random")])


@pytest.mark.parametrize(("target", "body", "code"), [
    ("SageMaker.DescribeTrainingJob", b"{not json", "SerializationException"),
    ("SageMaker.DescribeTrainingJob", b"[]", "SerializationException"),
    ("SageMaker.NoSuchThing", b"{}", "UnknownOperationException"),
    (None, b"{}", "UnknownOperationException"),
    ("SageMaker.DescribeTrainingJob", b"{}", "ValidationException"),
    ("SageMaker.DescribeTrainingJob", b'{"TrainingJobName": 7}', "ValidationException"),
    ("SageMaker.CreateTrainingJob", b'{"TrainingJobName": "x"}', "ValidationException"),
    ("SageMaker.ListTrainingJobs", b'{"NextToken": "../etc"}', "ValidationException"),
])
def test_malformed_requests_get_aws_errors_never_a_traceback(endpoint: str, target: str | None,
                                                             body: bytes, code: str) -> None:
    status, answer = post(endpoint, target, body)
    assert status == 400 and answer["__type"] == code
    assert "Traceback" not in answer["message"]


def test_tags_given_at_creation_added_listed_and_deleted(sm: Any, tmp_path: Path) -> None:
    request = training_request(tmp_path, "tagged")
    request["Tags"] = [{"Key": "team", "Value": "nlp"}, {"Key": "cost", "Value": "low"}]
    arn = sm.create_training_job(**request)["TrainingJobArn"]
    assert sm.list_tags(ResourceArn=arn)["Tags"] == request["Tags"]
    sm.add_tags(ResourceArn=arn,
                Tags=[{"Key": "cost", "Value": "high"}, {"Key": "run", "Value": "3"}])
    sm.delete_tags(ResourceArn=arn, TagKeys=["team"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "cost", "Value": "high"},
                                                     {"Key": "run", "Value": "3"}]
    many = [{"Key": f"k{i:03d}", "Value": str(i)} for i in range(48)]
    sm.add_tags(ResourceArn=arn, Tags=many)  # 50 in all: the most a resource has
    assert len(sm.list_tags(ResourceArn=arn, MaxResults=50)["Tags"]) == 50
    with pytest.raises(ClientError) as caught:
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "one-more", "Value": ""}])
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    other = arn.replace("tagged", "not-there")
    with pytest.raises(sm.exceptions.ResourceNotFound):
        sm.list_tags(ResourceArn=other)
    wait(sm, "tagged")


def test_a_jobs_log_is_served_as_cloudwatch_logs_serves_it(
    endpoint: str, sm: Any, tmp_path: Path
) -> None:
    logs = client("logs", endpoint)
    sm.create_training_job(**training_request(tmp_path, "logged", epochs="3"))
    wait(sm, "logged")
    group = "/aws/sagemaker/TrainingJobs"
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="logged/",
                                        orderBy="LogStreamName")["logStreams"]
    started = sm.describe_training_job(TrainingJobName="logged")["SecondaryStatusTransitions"][1]
    assert ([s["logStreamName"] for s in streams]
            == [f"logged/algo-1-{int(started['StartTime'].timestamp())}"])
    first = logs.get_log_events(logGroupName=group, logStreamName=streams[0]["logStreamName"],
                                startTime=0, startFromHead=True)
    assert [e["message"] for e in first["events"]] == [
        "epoch=1 loss=5.0000", "epoch=2 loss=4.5000", "epoch=3 loss=4.3333"]
    assert all(isinstance(e["timestamp"], int) for e in first["events"])
    again = logs.get_log_events(logGroupName=group, logStreamName=streams[0]["logStreamName"],
                                startFromHead=True, nextToken=first["nextForwardToken"])
    assert again["events"] == [] and again["nextForwardToken"] == first["nextForwardToken"]
    tail = logs.get_log_events(logGroupName=group, logStreamName=streams[0]["logStreamName"],
                               limit=1)
    assert [e["message"] for e in tail["events"]] == ["epoch=3 loss=4.3333"]
    found = logs.filter_log_events(logGroupName=group, logStreamNamePrefix="logged/",
                                   filterPattern='"epoch=2"')["events"]
    assert [e["message"] for e in found] == ["epoch=2 loss=4.5000"]
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.filter_log_events(logGroupName=group, filterPattern="{ $.level = 1 }")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.get_log_events(logGroupName=group, logStreamName="logged/algo-9-1")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.describe_log_streams(logGroupName="/aws/elsewhere")


def test_a_jobs_metrics_are_served_as_cloudwatch_serves_them(
    endpoint: str, sm: Any, tmp_path: Path
) -> None:
    cloudwatch = client("cloudwatch", endpoint)
    sm.create_training_job(**training_request(tmp_path, "measured", epochs="3"))
    wait(sm, "measured")
    job = sm.describe_training_job(TrainingJobName="measured")
    dims = [{"Name": "TrainingJobName", "Value": "measured"}]
    window = {"StartTime": job["TrainingStartTime"], "EndTime": job["TrainingEndTime"]}
    answer = cloudwatch.get_metric_statistics(
        Namespace="/aws/sagemaker/TrainingJobs", MetricName="loss", Dimensions=dims,
        Period=60, Statistics=["Minimum", "Maximum", "SampleCount"], **window)
    points = answer["Datapoints"]  # (one, or two where the job ran across a minute's end)
    assert (min(p["Minimum"] for p in points), max(p["Maximum"] for p in points),
            sum(p["SampleCount"] for p in points)) == (4.3333, 5.0, 3.0)
    assert points[0]["Timestamp"].tzinfo is not None and points[0]["Unit"] == "None"
    listed = cloudwatch.list_metrics(Namespace="/aws/sagemaker/TrainingJobs", Dimensions=dims)
    assert [m["MetricName"] for m in listed["Metrics"]] == ["loss"]
    data = cloudwatch.get_metric_data(MetricDataQueries=[{"Id": "loss", "MetricStat": {
        "Metric": {"Namespace": "/aws/sagemaker/TrainingJobs", "MetricName": "loss",
                   "Dimensions": dims}, "Period": 60, "Stat": "Sum"}}], **window)
    assert sum(data["MetricDataResults"][0]["Values"]) == pytest.approx(5 + 4.5 + 4.3333)
    with pytest.raises(ClientError) as refused:
        cloudwatch.get_metric_statistics(Namespace="/aws/sagemaker/TrainingJobs",
                                         MetricName="loss", Dimensions=dims, Period=45,
                                         Statistics=["Average"], **window)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "Period: must be 1, 5, 10, 20, 30 or a multiple of 60" in str(refused.value)


def test_local_options_cannot_be_sent(endpoint: str, tmp_path: Path) -> None:
    request = {**training_request(tmp_path, "with-local"), "Local": {"Build": {"Context": "/"}}}
    status, answer = post(endpoint, "SageMaker.CreateTrainingJob", json.dumps(request).encode())
    assert (status, answer["__type"]) == (400, "ValidationException")
    assert answer["message"].startswith("Local: is not part of SageMaker's API")
    status, listed = post(endpoint, "SageMaker.ListTrainingJobs", b"{}")
    assert listed["TrainingJobSummaries"] == []


@pytest.mark.parametrize("uri", ["file:///etc", "file://../outside", "file://data/../../x", "file://a\x00b"])
def test_file_paths_outside_the_servers_folder_are_refused(endpoint: str, tmp_path: Path,
                                                           uri: str) -> None:
    request = training_request(tmp_path, "escape")
    request["CheckpointConfig"] = {"S3Uri": uri}
    status, answer = post(endpoint, "SageMaker.CreateTrainingJob", json.dumps(request).encode())
    assert (status, answer["__type"]) == (400, "ValidationException")
    assert answer["message"].startswith("CheckpointConfig.S3Uri: ")
    assert "leads outside the folder smlocal serve runs in" in answer["message"]
