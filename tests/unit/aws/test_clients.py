"""Tests for runner.aws.clients: clients from the usual configuration, and what a container gets."""

from __future__ import annotations

import pytest
from moto import mock_aws

from runner.aws.clients import (
    AwsClients,
    AwsConfig,
    container_environment,
    error_message,
    for_container,
    needs_host_alias,
)
from runner.contract.credentials import SECRET_ENV


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_REGION",
                 "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")


def test_clients_are_built_once_and_lazily() -> None:
    clients = AwsClients(AwsConfig(endpoint_url="http://127.0.0.1:5999", max_attempts=1))
    assert clients._clients == {}
    s3 = clients.s3()
    assert clients.s3() is s3 and s3.meta.endpoint_url == "http://127.0.0.1:5999"
    assert s3.meta.region_name == "eu-west-1"
    assert clients.logs().meta.endpoint_url == "http://127.0.0.1:5999"


def test_per_service_endpoint_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://minio.internal:9000")
    clients = AwsClients()
    assert clients.s3().meta.endpoint_url == "http://minio.internal:9000"
    assert "amazonaws.com" in clients.logs().meta.endpoint_url


def test_container_environment_rewrites_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    env = container_environment(AwsClients(AwsConfig(endpoint_url="http://127.0.0.1:5000")))
    assert env["AWS_ENDPOINT_URL"] == "http://host.docker.internal:5000"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert not set(env) & set(SECRET_ENV)  # credentials come from the container's endpoint
    assert needs_host_alias(env)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://172.17.0.1:5000")
    env = container_environment(AwsClients())
    assert env["AWS_ENDPOINT_URL_S3"] == "http://172.17.0.1:5000" and not needs_host_alias(env)


def test_for_container() -> None:
    assert for_container("http://localhost/x?y") == "http://host.docker.internal/x?y"
    assert for_container("https://s3.eu-west-1.amazonaws.com") == "https://s3.eu-west-1.amazonaws.com"


def test_error_messages_carry_code_and_message_only() -> None:
    with mock_aws():
        try:
            AwsClients(AwsConfig(max_attempts=1)).s3().get_object(Bucket="nope-bucket", Key="k")
        except Exception as exc:
            text = error_message(exc)
    assert text.startswith("NoSuchBucket in GetObject: ")
    assert "AKIA" not in text and "Signature" not in text
