"""Tests for runner.aws.credentials: what a job's containers get, from moto's STS."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest

from runner.aws.clients import AwsClients, AwsConfig, AwsError
from runner.aws.credentials import job_credentials, session_name

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def test_assume_role_gives_the_roles_session(moto_aws: AwsClients) -> None:
    found = job_credentials(moto_aws, ROLE, "my-job", assume_role=True)
    assert found.source == f"AssumeRole of {ROLE}" and found.credentials.token
    assert found.credentials.access_key.startswith("ASIA")
    assert found.expiration > datetime.now(UTC) and found.expiration.tzinfo is not None
    who = boto3.client(
        "sts", aws_access_key_id=found.credentials.access_key,
        aws_secret_access_key=found.credentials.secret_key,
        aws_session_token=found.credentials.token).get_caller_identity()
    assert who["Arn"].endswith("assumed-role/SageMakerRole/smlocal-my-job")


def test_long_term_keys_are_never_handed_out_when_sts_answers(moto_aws: AwsClients) -> None:
    found = job_credentials(moto_aws, ROLE, "my-job", assume_role=False)
    assert found.source == "GetSessionToken" and found.credentials.token
    assert found.credentials.secret_key != "testing-secret"


def test_temporary_credentials_pass_through(
    moto_aws: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "sso-session")
    found = job_credentials(AwsClients(), ROLE, "my-job", assume_role=False)
    assert (found.credentials.token, found.source) == (
        "sso-session", "your session's temporary credentials")


def test_an_endpoint_without_sts_gets_the_runners_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "long-term-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    clients = AwsClients(AwsConfig(endpoint_url="http://127.0.0.1:9", max_attempts=1,
                                   region="us-east-1"))
    found = job_credentials(clients, ROLE, "j", assume_role=False)
    assert found.credentials.secret_key == "long-term-secret"
    assert found.source.startswith("your own keys (the endpoint has no STS: ")
    with pytest.raises(AwsError) as exc:
        job_credentials(clients, ROLE, "j", assume_role=True)
    assert str(exc.value).startswith(f"cannot assume the job's RoleArn {ROLE} (")
    assert "long-term-secret" not in str(exc.value)


def test_no_credentials_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(AwsError, match="no AWS credentials found"):
        job_credentials(AwsClients(AwsConfig(region="us-east-1")), ROLE, "j", assume_role=False)


def test_session_names_are_what_sts_accepts() -> None:
    assert session_name("my-job") == "smlocal-my-job"
    assert len(session_name("x" * 63)) == 64
    assert session_name("a b/c") == "smlocal-a-b-c"


def test_against_aws_itself_long_term_keys_never_reach_a_container(moto_aws: AwsClients) -> None:
    from botocore.stub import Stubber

    with Stubber(moto_aws.client("sts")) as stub:
        stub.add_client_error("get_session_token", "AccessDenied", "explicit deny")
        with pytest.raises(AwsError) as exc:
            job_credentials(moto_aws, ROLE, "j", assume_role=False)
    assert str(exc.value).startswith("cannot make session credentials for the job's containers "
                                     "(GetSessionToken: AccessDenied")
    assert "testing-secret" not in str(exc.value)
