"""``smlocal serve --auth``: requests must carry an AWS Signature Version 4 made with the
credentials the server runs with (AWS's own chain: ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, a profile, ...), as AWS checks them; anything else is answered 403
in AWS's words. The signature is computed again with botocore's own signer over what the
request says it signed (its ``SignedHeaders``, the body), never a hand-written one. Without
``--auth`` signatures are accepted unchecked (the server binds to loopback unless told).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from runner.core.problems import Problem, SpecError

MAX_SKEW = timedelta(minutes=15)  # AWS refuses a signature older or newer than this
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]{1,128})/(?P<date>[0-9]{8})/"
    r"(?P<region>[a-z0-9-]{1,64})/(?P<service>[a-z0-9-]{1,64})/aws4_request,[ ]*"
    r"SignedHeaders=(?P<signed>[a-z0-9;-]{1,2048}),[ ]*Signature=(?P<signature>[0-9a-f]{64})")
# The signing names of the services served (CloudWatch's is "monitoring").
SERVICES = frozenset({"sagemaker", "logs", "monitoring"})
_TIMESTAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Refusal:
    """Why a request's signature is refused: AWS's error code and message (HTTP 403)."""

    code: str
    message: str


class Signatures:
    """Checks requests against one set of credentials (thread-safe: it keeps no state of its
    own; credentials that refresh, a role's or SSO's, are read afresh at each check)."""

    def __init__(self, credentials: Any) -> None:
        self._source = credentials  # botocore's credentials (or frozen ones)

    @property
    def _credentials(self) -> Any:
        freeze = getattr(self._source, "get_frozen_credentials", None)
        return freeze() if freeze is not None else self._source

    @property
    def access_key(self) -> str:
        return str(self._credentials.access_key)

    def check(self, method: str, url: str, headers: Mapping[str, str], body: bytes,
              now: datetime | None = None) -> Refusal | None:
        """None for a request signed with the server's credentials, else why not (never
        raises: a header it cannot read is a refusal)."""
        try:
            return self._check(method, url, headers, body, now)
        except (ValueError, TypeError, UnicodeError) as exc:
            return Refusal("IncompleteSignatureException", f"the signature cannot be read: {exc}")

    def _check(self, method: str, url: str, headers: Mapping[str, str], body: bytes,
               now: datetime | None) -> Refusal | None:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        found = _AUTHORIZATION.fullmatch(headers.get("authorization", ""))
        if found is None:
            return Refusal("MissingAuthenticationTokenException", (
                "Missing Authentication Token: this smlocal serve checks signatures (--auth); "
                "sign requests with the credentials it runs with"))
        credentials = self._credentials
        if not _same(found["key"], credentials.access_key):
            return Refusal("UnrecognizedClientException", (
                "The security token included in the request is invalid: the access key is not "
                "the one this smlocal serve runs with"))
        stamp = headers.get("x-amz-date", "")
        try:
            signed_at = datetime.strptime(stamp, _TIMESTAMP).replace(tzinfo=UTC)
        except ValueError:
            return Refusal("IncompleteSignatureException", "X-Amz-Date is missing or not "
                           "a time (YYYYMMDDTHHMMSSZ)")
        if abs((now or datetime.now(UTC)) - signed_at) > MAX_SKEW or stamp[:8] != found["date"]:
            return Refusal("InvalidSignatureException", (
                f"Signature expired: {stamp} is more than 15 minutes from the server's time"))
        if found["service"] not in SERVICES:
            return Refusal("InvalidSignatureException", (
                f"Credential should be scoped to a valid service: {found['service']!r} is not "
                f"one smlocal serves ({', '.join(sorted(SERVICES))})"))
        token = credentials.token
        if token and not _same(headers.get("x-amz-security-token", ""), token):
            return Refusal("UnrecognizedClientException", (
                "The security token included in the request is invalid"))
        declared = headers.get("x-amz-content-sha256")
        if declared is not None and not _same(declared, hashlib.sha256(body).hexdigest()):
            return Refusal("InvalidSignatureException", (
                "X-Amz-Content-SHA256 is not the body's SHA-256 (smlocal serve takes signed "
                "payloads only)"))
        signed = found["signed"].split(";")
        request = AWSRequest(method=method, url=url, data=body,
                             headers={n: headers[n] for n in signed if n in headers})
        request.context["timestamp"] = stamp
        signer = SigV4Auth(credentials, found["service"], found["region"])
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not _same(expected, found["signature"]):
            return Refusal("InvalidSignatureException", (
                "The request signature we calculated does not match the signature you "
                "provided. Check your AWS Secret Access Key and signing method."))
        return None


def _same(given: str, known: str) -> bool:
    """Whether two secrets match, in constant time (over bytes: any text compares)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                               known.encode("utf-8", "surrogateescape"))


def server_signatures() -> Signatures:
    """The checker for ``--auth``: the credentials this process finds as boto3 would."""
    import botocore.session

    credentials = botocore.session.Session().get_credentials()
    if credentials is None:
        raise SpecError([Problem("--auth", (
            "no AWS credentials to check requests against: give the server some as boto3 finds "
            "them (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"))])
    return Signatures(credentials)
