"""Tests for runner.aws.sagemaker: SageMaker's and CloudWatch Logs' answers and refusals as
SageMakerCloud gives them (botocore's Stubber for the refusals, moto for a real round trip)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber
from moto import mock_aws

from runner.aws.clients import AwsClients, AwsConfig
from runner.aws.sagemaker import LOG_GROUP, CloudError, Place, SageMakerCloud
from tests.unit.api.test_cloud_jobs import cloud_request

_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER",
                       "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "AWS_PROFILE", "AWS_SESSION_TOKEN")


@pytest.fixture
def fake_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def clients(fake_keys: None) -> AwsClients:
    return AwsClients(AwsConfig(region="us-east-1", max_attempts=1))


@pytest.fixture
def sagemaker_stub(clients: AwsClients) -> Iterator[Stubber]:
    with Stubber(clients.client("sagemaker")) as stub:
        yield stub
        stub.assert_no_pending_responses()


@pytest.fixture
def logs_stub(clients: AwsClients) -> Iterator[Stubber]:
    with Stubber(clients.logs()) as stub:
        yield stub
        stub.assert_no_pending_responses()


def training_request(name: str) -> dict[str, Any]:
    return {**cloud_request(name), "HyperParameters": {"epochs": "3", "lr": "0.01"}}


# -- refusals as CloudError ------------------------------------------------------------------
def test_throttling_left_after_retries_is_transient(clients: AwsClients,
                                                    sagemaker_stub: Stubber) -> None:
    sagemaker_stub.add_client_error("describe_training_job", "ThrottlingException", "Rate exceeded",
                                    expected_params={"TrainingJobName": "job-a"})
    with pytest.raises(CloudError) as exc:
        SageMakerCloud(clients).describe_training_job("job-a")
    assert exc.value.code == "ThrottlingException"
    assert exc.value.transient is True
    assert "Rate exceeded" in str(exc.value)


def test_validation_exception_is_not_transient(clients: AwsClients,
                                               sagemaker_stub: Stubber) -> None:
    sagemaker_stub.add_client_error("describe_training_job", "ValidationException",
                                    "Requested resource not found.")
    with pytest.raises(CloudError) as exc:
        SageMakerCloud(clients).describe_training_job("job-b")
    assert (exc.value.code, exc.value.transient) == ("ValidationException", False)


def test_a_5xx_answer_is_transient_whatever_its_code(clients: AwsClients,
                                                     sagemaker_stub: Stubber) -> None:
    sagemaker_stub.add_client_error("stop_training_job", "SomethingBroke", "oops",
                                    http_status_code=503)
    with pytest.raises(CloudError) as exc:
        SageMakerCloud(clients).stop_training_job("job-c")
    assert (exc.value.code, exc.value.transient) == ("SomethingBroke", True)


def test_resource_limit_exceeded_on_create(clients: AwsClients, sagemaker_stub: Stubber) -> None:
    request = training_request("job-d")
    sagemaker_stub.add_client_error(
        "create_training_job", "ResourceLimitExceeded",
        "The account-level service limit 'ml.m5.large for training job usage' is 0 Instances",
        expected_params=request)
    with pytest.raises(CloudError) as exc:
        SageMakerCloud(clients).create_training_job(request)
    assert exc.value.code == "ResourceLimitExceeded"
    assert exc.value.transient is False


def test_no_answer_at_all_is_transient(fake_keys: None) -> None:
    nothing_there = AwsClients(AwsConfig(region="us-east-1", max_attempts=1,
                                         endpoint_url="http://127.0.0.1:9"))
    cloud = SageMakerCloud(nothing_there)
    with pytest.raises(CloudError) as exc:
        cloud.describe_training_job("job-e")
    assert exc.value.code == "EndpointConnectionError"
    assert exc.value.transient is True
    assert cloud.place() == Place("us-east-1", "http://127.0.0.1:9")


# -- CloudWatch Logs ---------------------------------------------------------------------------
def test_log_streams_of_a_log_group_not_there_yet(clients: AwsClients,
                                                 logs_stub: Stubber) -> None:
    logs_stub.add_client_error(
        "describe_log_streams", "ResourceNotFoundException", "The specified log group does not "
        "exist.", expected_params={"logGroupName": LOG_GROUP, "logStreamNamePrefix": "job-f/"})
    assert SageMakerCloud(clients).log_streams("job-f") == []


def test_log_streams_other_refusals_are_raised(clients: AwsClients, logs_stub: Stubber) -> None:
    logs_stub.add_client_error("describe_log_streams", "AccessDeniedException", "no")
    with pytest.raises(CloudError) as exc:
        SageMakerCloud(clients).log_streams("job-f")
    assert (exc.value.code, exc.value.transient) == ("AccessDeniedException", False)


def test_log_streams_pages_and_sorts(clients: AwsClients, logs_stub: Stubber) -> None:
    prefix = {"logGroupName": LOG_GROUP, "logStreamNamePrefix": "job-g/"}
    logs_stub.add_response(
        "describe_log_streams",
        {"logStreams": [{"logStreamName": "job-g/algo-2-1700000000"}], "nextToken": "page-2"},
        expected_params=prefix)
    logs_stub.add_response(
        "describe_log_streams", {"logStreams": [{"logStreamName": "job-g/algo-1-1700000000"}]},
        expected_params={**prefix, "nextToken": "page-2"})
    assert SageMakerCloud(clients).log_streams("job-g") == ["job-g/algo-1-1700000000",
                                                            "job-g/algo-2-1700000000"]


def test_log_events_in_seconds_with_the_next_token(clients: AwsClients,
                                                  logs_stub: Stubber) -> None:
    stream = "job-h/algo-1-1700000000"
    logs_stub.add_response(
        "get_log_events",
        {"events": [{"timestamp": 1_700_000_000_250, "message": "epoch 1",
                     "ingestionTime": 1_700_000_001_000},
                    {"timestamp": 1_700_000_002_000, "message": "epoch 2",
                     "ingestionTime": 1_700_000_003_000}],
         "nextForwardToken": "f/2", "nextBackwardToken": "b/0"},
        expected_params={"logGroupName": LOG_GROUP, "logStreamName": stream,
                         "startFromHead": True})
    logs_stub.add_response(
        "get_log_events", {"events": [], "nextForwardToken": "f/2", "nextBackwardToken": "b/2"},
        expected_params={"logGroupName": LOG_GROUP, "logStreamName": stream,
                         "startFromHead": True, "nextToken": "f/2"})
    cloud = SageMakerCloud(clients)
    events, token = cloud.log_events(stream, None)
    assert events == [(1_700_000_000.25, "epoch 1"), (1_700_000_002.0, "epoch 2")]
    assert token == "f/2"
    assert cloud.log_events(stream, token) == ([], "f/2")


# -- against moto ------------------------------------------------------------------------------
def test_create_sends_the_request_as_given(clients: AwsClients) -> None:
    request = training_request("job-moto")
    given = copy.deepcopy(request)
    sent: list[dict[str, Any]] = []
    with mock_aws():
        cloud = SageMakerCloud(clients)
        client = cloud.clients.client("sagemaker")
        client.meta.events.register(
            "provide-client-params.sagemaker.CreateTrainingJob",
            lambda params, **kwargs: sent.append(copy.deepcopy(params)))
        arn = cloud.create_training_job(request)
        described = cloud.describe_training_job("job-moto")
    assert arn.startswith("arn:aws:sagemaker:us-east-1:") and arn.endswith(":training-job/job-moto")
    assert sent == [given] and request == given  # exactly the request, left as it was
    assert "ResponseMetadata" not in described
    assert described["TrainingJobName"] == "job-moto"
    assert described["HyperParameters"] == given["HyperParameters"]
    algorithm = described["AlgorithmSpecification"]
    # (moto adds MetricDefinitions of its own to every job it describes)
    assert {k: algorithm[k] for k in given["AlgorithmSpecification"]} == \
        given["AlgorithmSpecification"]
    assert described["ResourceConfig"] == given["ResourceConfig"]
    assert described["RoleArn"] == given["RoleArn"]


def test_place_is_the_region_and_the_endpoint(clients: AwsClients) -> None:
    with mock_aws():
        place = SageMakerCloud(clients).place()
    assert place == Place("us-east-1", "https://api.sagemaker.us-east-1.amazonaws.com")
    assert place.to_record() == {"Backend": "sagemaker", "Region": "us-east-1",
                                 "EndpointUrl": "https://api.sagemaker.us-east-1.amazonaws.com"}
    other = AwsClients(AwsConfig(region="eu-west-1", endpoint_url="http://127.0.0.1:8080"))
    assert SageMakerCloud(other).place() == Place("eu-west-1", "http://127.0.0.1:8080")


def test_place_follows_boto3s_per_service_endpoint(fake_keys: None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", "http://127.0.0.1:7070")
    place = SageMakerCloud(AwsClients(AwsConfig(region="us-west-2"))).place()
    assert place == Place("us-west-2", "http://127.0.0.1:7070")
