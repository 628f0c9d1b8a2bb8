"""Temporary credentials for a job's containers, from STS, as SageMaker gives them.

SageMaker hands a training container the temporary credentials of the job's ``RoleArn``.
Here, with ``Local.AssumeRole``, the runner assumes that role with its own credentials (so a
role that cannot be assumed, or cannot read the bucket, fails here first); otherwise the
container gets short-lived session credentials of the runner's (``GetSessionToken``), or the
runner's own when they are temporary already, or when a stand-in endpoint has no STS (an
S3-only server); against AWS itself long-term keys are never handed to a container.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from runner.aws.clients import NO_CREDENTIALS, AwsClients, AwsError, Credentials, error_message

DURATION_SECONDS = 3600
#: Passed-through credentials carry no expiry the runner can read: the container is told a
#: short one, and the runner serves them afresh (as its session renews them) before it.
PASS_THROUGH_SECONDS = 25 * 60
_SESSION_NAME_CHARS = re.compile(r"[^\w+=,.@-]")


@dataclass(frozen=True)
class TemporaryCredentials:
    credentials: Credentials
    expiration: datetime  # aware, UTC
    source: str  # how they were made, for the job's log (no secret)


def session_name(job_name: str) -> str:
    """A RoleSessionName (2-64 of ``[\\w+=,.@-]``) naming the job."""
    return _SESSION_NAME_CHARS.sub("-", f"smlocal-{job_name}")[:64]


def job_credentials(
    clients: AwsClients, role_arn: str, job_name: str, assume_role: bool,
    now: datetime | None = None,
) -> TemporaryCredentials:
    """The credentials a job's containers get now; AwsError when there are none to give (no
    credentials at all, or the role cannot be assumed)."""
    now = now or datetime.now(UTC)
    if assume_role:
        try:
            answer = clients.client("sts").assume_role(
                RoleArn=role_arn, RoleSessionName=session_name(job_name),
                DurationSeconds=DURATION_SECONDS)
        except Exception as exc:  # botocore's errors, and a connection that failed
            raise AwsError(f"cannot assume the job's RoleArn {role_arn} "
                           f"({error_message(exc)})") from None
        return _from_sts(answer["Credentials"], f"AssumeRole of {role_arn}")
    own = clients.credentials()
    if own is None:
        raise AwsError(NO_CREDENTIALS)
    if not own.token:  # long-term keys: handed out as they are only to a stand-in endpoint
        try:
            answer = clients.client("sts").get_session_token(DurationSeconds=DURATION_SECONDS)
        except Exception as exc:
            if not _stand_in(clients):
                raise AwsError(
                    "cannot make session credentials for the job's containers (GetSessionToken: "
                    f"{error_message(exc)}); allow sts:GetSessionToken, or set "
                    "Local.AssumeRole: true to give them the RoleArn's") from None
            # an endpoint without STS (MinIO, an S3-only server): its own keys, through the
            # endpoint still, never in the container's environment
            return TemporaryCredentials(
                own, now + timedelta(seconds=PASS_THROUGH_SECONDS),
                f"your own keys (the endpoint has no STS: {error_message(exc)})")
        return _from_sts(answer["Credentials"], "GetSessionToken")
    return TemporaryCredentials(own, now + timedelta(seconds=PASS_THROUGH_SECONDS),
                                "your session's temporary credentials")


def _stand_in(clients: AwsClients) -> bool:
    """Whether AWS is a stand-in here (``--endpoint-url`` or ``AWS_ENDPOINT_URL*``)."""
    return bool(clients.config.endpoint_url) or any(
        name == "AWS_ENDPOINT_URL" or name.startswith("AWS_ENDPOINT_URL_") for name in os.environ)


def _from_sts(found: dict[str, Any], source: str) -> TemporaryCredentials:
    expiration = found["Expiration"]
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=UTC)
    return TemporaryCredentials(
        Credentials(found["AccessKeyId"], found["SecretAccessKey"], found.get("SessionToken")),
        expiration, source)

