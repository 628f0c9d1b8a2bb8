"""``smlocal serve --auth``: requests must carry an AWS Signature Version 4 made with the
credentials the server runs with (AWS's own chain: ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, a profile, ...), as AWS checks them; anything else is answered 403
in AWS's words. The signature is computed again with botocore's own signer over what the
request says it signed (its ``SignedHeaders``, the body), never a hand-written one. Without
``--auth`` signatures are accepted unchecked (the server binds to loopback unless told).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from runner.core.problems import Problem, SpecError

MAX_SKEW = timedelta(minutes=15)  # AWS refuses a signature older or newer than this
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/"
    r"(?P<service>[^/,\s]+)/aws4_request,\s*SignedHeaders=(?P<signed>[a-z0-9;\-]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})$")
_TIMESTAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Refusal:
    """Why a request's signature is refused: AWS's error code and message (HTTP 403)."""

    code: str
    message: str


class Signatures:
    """Checks requests against one set of credentials (thread-safe: it keeps no state)."""

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials  # botocore's frozen credentials

    @property
    def access_key(self) -> str:
        return str(self._credentials.access_key)

    def check(self, method: str, url: str, headers: Mapping[str, str], body: bytes,
              now: datetime | None = None) -> Refusal | None:
        """None for a request signed with the server's credentials, else why not."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        found = _AUTHORIZATION.match(headers.get("authorization", ""))
        if found is None:
            return Refusal("MissingAuthenticationTokenException", (
                "Missing Authentication Token: this smlocal serve checks signatures (--auth); "
                "sign requests with the credentials it runs with"))
        if not hmac.compare_digest(found["key"], self.access_key):
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
        token = self._credentials.token
        if token and not hmac.compare_digest(headers.get("x-amz-security-token", ""), token):
            return Refusal("UnrecognizedClientException", (
                "The security token included in the request is invalid"))
        signed = found["signed"].split(";")
        request = AWSRequest(method=method, url=url, data=body,
                             headers={n: headers[n] for n in signed if n in headers})
        request.context["timestamp"] = stamp
        signer = SigV4Auth(self._credentials, found["service"], found["region"])
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if not hmac.compare_digest(expected, found["signature"]):
            return Refusal("InvalidSignatureException", (
                "The request signature we calculated does not match the signature you "
                "provided. Check your AWS Secret Access Key and signing method."))
        return None


def server_signatures() -> Signatures:
    """The checker for ``--auth``: the credentials this process finds as boto3 would."""
    import botocore.session

    credentials = botocore.session.Session().get_credentials()
    if credentials is None:
        raise SpecError([Problem("--auth", (
            "no AWS credentials to check requests against: give the server some as boto3 finds "
            "them (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)"))])
    return Signatures(credentials.get_frozen_credentials())
