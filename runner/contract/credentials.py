"""How a training container gets its AWS credentials: from an endpoint, never its environment.

SageMaker gives a job's containers the temporary credentials of the job's ``RoleArn`` through
a container credentials endpoint, which boto3 and every AWS SDK read (the ECS-style
provider). Here the endpoint listens on the container's own loopback (the only place other
than the ECS and EKS addresses that the SDKs accept a plain-HTTP ``..._FULL_URI`` from), and
the container's environment holds only its URL and an authorization token that is good for
nothing outside that container's network and only while the job runs.

The endpoint answers ``GET`` of :data:`PATH` with :data:`AUTHORIZATION` equal to the token by
the JSON the SDKs expect (``AccessKeyId``, ``SecretAccessKey``, ``Token``, ``Expiration``),
read afresh at each request from :data:`CREDENTIALS_FILE` in the folder the runner keeps
current; anything else is answered 401 or 404.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

FULL_URI_ENV = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
TOKEN_ENV = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
#: An unprivileged port no framework we know of uses by default (29500 torch, 7777 ...).
PORT = 50_761
PATH = "/smlocal/credentials"
AUTHORIZATION = "Authorization"
CREDENTIALS_FILE = "credentials.json"
TOKEN_FILE = "token"
#: The names the container's environment must never hold: the SDKs would prefer them to the
#: endpoint (and ``docker inspect`` shows them).
SECRET_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
              "AWS_SECURITY_TOKEN")


def endpoint_url(port: int = PORT) -> str:
    return f"http://127.0.0.1:{port}{PATH}"


def endpoint_environment(token: str) -> dict[str, str]:
    """What the container's environment holds instead of credentials."""
    return {FULL_URI_ENV: endpoint_url(), TOKEN_ENV: token}


def credentials_document(
    access_key: str, secret_key: str, token: str | None, expiration: datetime
) -> str:
    """The endpoint's answer, as ECS and SageMaker give it (``Expiration`` in UTC, ISO 8601)."""
    return json.dumps({
        "AccessKeyId": access_key, "SecretAccessKey": secret_key,
        "Token": token or "",  # required by botocore; empty: keys without a session (not sent)
        "Expiration": expiration.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
