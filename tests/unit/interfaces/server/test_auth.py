"""``smlocal serve --auth`` (runner/interfaces/server/auth.py): only requests signed with the
server's credentials are answered; the rest get 403 in AWS's words. Real boto3 clients sign,
over real HTTP."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import ClientError

from runner.core.documents import MAX_DOCUMENT_BYTES
from runner.interfaces.cli import remote
from runner.interfaces.cli.main import main
from runner.interfaces.server.app import make_app
from runner.interfaces.server.auth import Signatures
from tests.unit.interfaces.server.conftest import fake_service, serving

KEY, SECRET = "AKIASMLOCALSERVER01", "the-servers-secret"


@pytest.fixture
def signed_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.chdir(tmp_path)
    signatures = Signatures(ReadOnlyCredentials(KEY, SECRET, None))
    with serving(make_app(fake_service(tmp_path / "home"), signatures)) as url:
        yield url


def sagemaker(endpoint: str, key: str = KEY, secret: str = SECRET) -> Any:
    return boto3.client("sagemaker", endpoint_url=endpoint, region_name="eu-west-1",
                        aws_access_key_id=key, aws_secret_access_key=secret)


def error(call: Any) -> tuple[int, str]:
    with pytest.raises(ClientError) as refused:
        call()
    response = refused.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_only_the_servers_credentials_are_answered(signed_endpoint: str) -> None:
    assert sagemaker(signed_endpoint).list_training_jobs()["TrainingJobSummaries"] == []
    wrong_secret = sagemaker(signed_endpoint, secret="guess")
    assert error(wrong_secret.list_training_jobs) == (403, "InvalidSignatureException")
    wrong_key = sagemaker(signed_endpoint, key="AKIASOMEONEELSE0001")
    assert error(wrong_key.list_training_jobs) == (403, "UnrecognizedClientException")
    unsigned = urllib.request.Request(signed_endpoint, data=b"{}", method="POST", headers={
        "X-Amz-Target": "SageMaker.ListTrainingJobs"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(unsigned, timeout=10)
    assert refused.value.code == 403
    assert b"MissingAuthenticationTokenException" in refused.value.read()


def test_a_tampered_body_or_an_old_signature_is_refused() -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = ReadOnlyCredentials(KEY, SECRET, None)
    request = AWSRequest(method="POST", url="http://127.0.0.1:8899/", data=b'{"MaxResults": 1}',
                         headers={"X-Amz-Target": "SageMaker.ListTrainingJobs"})
    SigV4Auth(credentials, "sagemaker", "us-east-1").add_auth(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    signatures = Signatures(credentials)
    url = "http://127.0.0.1:8899/"
    assert signatures.check("POST", url, headers, b'{"MaxResults": 1}') is None
    tampered = signatures.check("POST", url, headers, b'{"MaxResults": 100}')
    assert tampered is not None and tampered.code == "InvalidSignatureException"
    later = datetime.now(UTC) + timedelta(minutes=20)
    old = signatures.check("POST", url, headers, b'{"MaxResults": 1}', now=later)
    assert old is not None and old.message.startswith("Signature expired")
    # a payload hash declared in a signed header must be the body's
    declared = AWSRequest(method="POST", url=url, data=b'{"MaxResults": 1}', headers={
        "X-Amz-Target": "SageMaker.ListTrainingJobs", "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    SigV4Auth(credentials, "sagemaker", "us-east-1").add_auth(declared)
    lowered = {k.lower(): v for k, v in declared.headers.items()}
    refused = signatures.check("POST", url, lowered, b'{"MaxResults": 100}')
    assert refused is not None and "X-Amz-Content-SHA256" in refused.message
    # headers it cannot read, a service it does not serve: refusals, never an exception
    odd = {**headers, "authorization": headers["authorization"].replace(KEY, "\u00e9")}
    assert signatures.check("POST", url, odd, b"{}") is not None
    other = {**headers, "authorization": headers["authorization"].replace("/sagemaker/", "/s3/")}
    refused = signatures.check("POST", url, other, b'{"MaxResults": 1}')
    assert refused is not None and "valid service" in refused.message
    with_token = Signatures(ReadOnlyCredentials(KEY, SECRET, "a-session-token"))
    refused = with_token.check("POST", url, headers, b'{"MaxResults": 1}')
    assert refused is not None and refused.code == "UnrecognizedClientException"


def test_the_cli_signs_when_the_server_asks(signed_endpoint: str, keep_signal_handlers: None,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # (no look for an instance's role)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv(remote.ENDPOINT_ENV, signed_endpoint)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID",
                 "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert main(["list"]) == 2
    assert "answers only signed requests (serve --auth)" in capsys.readouterr().err
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    assert main(["list"]) == 0
    assert capsys.readouterr().out.startswith("NAME")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "guess")
    assert main(["list"]) == 1
    assert "InvalidSignatureException" in capsys.readouterr().err


def test_serve_auth_needs_credentials(keep_signal_handlers: None, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert main(["--home", str(tmp_path / "home"), "serve", "--auth", "--port", "0"]) == 2
    assert capsys.readouterr().err.startswith("--auth: no AWS credentials")


def test_a_body_past_the_limit_is_refused_unread(signed_endpoint: str) -> None:
    """Refused on its Content-Length, before a byte of it is read (nor signed)."""
    host, port = signed_endpoint.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("POST", "/")
    conn.putheader("X-Amz-Target", "SageMaker.ListTags")
    conn.putheader("Content-Length", str(MAX_DOCUMENT_BYTES + 1))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413 and b"SerializationException" in response.read()
    conn.close()
