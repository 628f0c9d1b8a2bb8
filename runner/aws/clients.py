"""AWS clients from the usual configuration, built only when a job needs them.

The profile, region, credentials and endpoints come from wherever boto3 reads them
(``AWS_PROFILE``, ``AWS_REGION``, ``~/.aws/config``, ``AWS_ENDPOINT_URL`` and the per-service
``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL_CLOUDWATCH_LOGS``, ...); ``--endpoint-url`` sends
every service to one endpoint (LocalStack, MinIO, moto). Nothing here runs at import time, and
a job with only ``file://`` paths and CloudWatch off never builds a client at all.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DEFAULT_REGION = "us-east-1"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})
#: What a bridged container uses to reach the Docker host.
HOST_ALIAS = "host.docker.internal"
NO_CREDENTIALS = ("no AWS credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                  "AWS_SECRET_ACCESS_KEY)")


class AwsError(Exception):
    """An AWS call failed; the message is for the user and carries no credentials."""


@dataclass(frozen=True)
class AwsConfig:
    endpoint_url: str | None = None  # every service; None: boto3's own resolution
    profile: str | None = None
    region: str | None = None
    max_attempts: int | None = None  # None: botocore's (AWS_MAX_ATTEMPTS, config file, 3)
    max_pool_connections: int = 64


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)


class AwsClients:
    """boto3 clients of one session, built on first use; safe to share between threads."""

    def __init__(self, config: AwsConfig | None = None) -> None:
        self.config = config or AwsConfig()
        self._lock = threading.Lock()
        self._session: Any = None
        self._clients: dict[str, Any] = {}

    def s3(self) -> Any:
        return self.client("s3")

    def logs(self) -> Any:
        return self.client("logs")

    def cloudwatch(self) -> Any:
        return self.client("cloudwatch")

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                from botocore.config import Config

                retries: Any = {"mode": "standard"}
                if self.config.max_attempts is not None:
                    retries["max_attempts"] = self.config.max_attempts
                config = Config(
                    region_name=self._region_locked(),
                    retries=retries,
                    max_pool_connections=self.config.max_pool_connections,
                    # PutMetricData bodies get gzipped otherwise; some S3-compatible servers
                    # and moto answer that with 500s. Uncompressed is valid everywhere.
                    disable_request_compression=True,
                )
                kwargs: dict[str, Any] = {"config": config}
                if self.config.endpoint_url:
                    kwargs["endpoint_url"] = self.config.endpoint_url
                self._clients[service] = self._session_locked().client(service, **kwargs)
            return self._clients[service]

    def region(self) -> str:
        with self._lock:
            return self._region_locked()

    def credentials(self) -> Credentials | None:
        """The session's credentials now (None when none are configured)."""
        with self._lock:
            found = self._session_locked().get_credentials()
        if found is None:
            return None
        frozen = found.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    def _session_locked(self) -> Any:
        if self._session is None:
            import boto3

            self._session = boto3.session.Session(profile_name=self.config.profile)
        return self._session

    def _region_locked(self) -> str:
        return self.config.region or self._session_locked().region_name or DEFAULT_REGION


def container_environment(clients: AwsClients) -> dict[str, str]:
    """What a training container needs to reach the same AWS as the runner: the region and
    the endpoints (loopback endpoints rewritten to the Docker host). No credentials: the
    container reads those from its credentials endpoint (runner.contract.credentials)."""
    env: dict[str, str] = {"AWS_REGION": clients.region(), "AWS_DEFAULT_REGION": clients.region()}
    if clients.config.endpoint_url:
        env["AWS_ENDPOINT_URL"] = for_container(clients.config.endpoint_url)
    else:
        for name, value in os.environ.items():
            if name == "AWS_ENDPOINT_URL" or name.startswith("AWS_ENDPOINT_URL_"):
                env[name] = for_container(value)
    return env


def for_container(url: str) -> str:
    """``url`` as a bridged container reaches it: a loopback host becomes the Docker host."""
    parts = urlsplit(url)
    if parts.hostname not in _LOOPBACK:
        return url
    netloc = HOST_ALIAS + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def needs_host_alias(env: dict[str, str]) -> bool:
    return any(HOST_ALIAS in v for k, v in env.items() if k.startswith("AWS_ENDPOINT_URL"))


def error_message(exc: BaseException) -> str:
    """A one-line description of a boto3/botocore error (code and message, no request
    signatures or credentials)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error") or {}
        code = err.get("Code") or "Error"
        message = err.get("Message") or ""
        op = getattr(exc, "operation_name", "")
        return f"{code}{' in ' + op if op else ''}: {message}".rstrip(": ")
    name = exc.__class__.__name__
    if name == "NoCredentialsError":
        return NO_CREDENTIALS
    return f"{name}: {exc}"
