"""Shared fixtures of the unit tests."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from runner.aws.clients import AwsClients, AwsConfig


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsClients]:
    """AWS clients against moto in-process, with fake long-term keys and no endpoint override."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield AwsClients(AwsConfig(max_attempts=1))


@pytest.fixture
def moto_s3(moto_aws: AwsClients) -> Any:
    """An S3 client against moto in-process (``moto_aws``'s)."""
    return moto_aws.s3()


@pytest.fixture
def keep_signal_handlers() -> Iterator[None]:
    """main() installs SIGTERM and SIGHUP handlers; put pytest's back."""
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    yield
    for sig, handler in before.items():
        signal.signal(sig, handler)
