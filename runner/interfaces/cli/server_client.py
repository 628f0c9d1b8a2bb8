"""SageMaker's JSON protocol over HTTP, as the CLI speaks it to a running ``smlocal serve``:
one kept-alive connection, requests unsigned until the server asks for signatures
(``serve --auth``), then signed (SigV4, botocore's signer) with this process's credentials.
The request is sent as the file holds it (the JSON protocol's body is the request itself);
the server checks it against the service model."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Callable
from typing import Any, NoReturn

from runner.core.problems import Problem, SpecError

ENDPOINT_ENV = "SMLOCAL_ENDPOINT"
EXIT_FAILED, EXIT_BAD_INPUT = 1, 2


class RemoteError(Exception):
    """The server's refusal, in AWS's error shape."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code, self.status = code, status

    def exit_code(self) -> int:
        """Bad input (a request, a name) is 2, as in-process; anything else 1."""
        return EXIT_BAD_INPUT if self.status == 400 else EXIT_FAILED

    def lines(self) -> list[str]:
        if self.code in ("ValidationException", "ValidationError"):
            return str(self).split("; ")  # (the server joins the problems so)
        return [f"smlocal: {self.code}: {self}"]


class Connection:
    """SageMaker's JSON protocol over one kept-alive HTTP connection to the server."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise SpecError([Problem("--endpoint", (
                f"must be the http:// URL of `smlocal serve` (got {url!r})"))])
        self.url = url
        try:
            port = parts.port or 80
        except ValueError:
            raise SpecError([Problem("--endpoint", f"has no valid port: {url!r}")]) from None
        self._http = http.client.HTTPConnection(parts.hostname, port, timeout=120)
        self._host = parts.netloc
        self._signer: Signer | None = None

    def call(self, target: str, params: dict[str, Any]) -> dict[str, Any]:
        """One operation (``SageMaker.DescribeTrainingJob``): its answer, else RemoteError.
        Unsigned, until a server that checks signatures (``serve --auth``) asks for them."""
        try:
            return self._call(target, params)
        except RemoteError as exc:
            if exc.code != "MissingAuthenticationTokenException" or self._signer is not None:
                raise
        self._signer = signer(self.url)
        return self._call(target, params)

    def _call(self, target: str, params: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(params).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target,
                   "Host": self._host}
        if self._signer is not None:
            headers = self._signer(target, body, headers)
        for attempt in (1, 2):
            try:
                self._http.request("POST", "/", body, headers)
                response = self._http.getresponse()
                data = response.read()
                break
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                self._http.close()  # the server closed a connection idle too long: once more
                if attempt == 2:
                    self._unreachable("the connection was closed")
            except (OSError, http.client.HTTPException) as exc:
                self._http.close()
                self._unreachable(getattr(exc, "strerror", None) or exc)
            except BaseException:  # Ctrl-C mid-request: the next request needs a new connection
                self._http.close()
                raise
        try:
            answer = json.loads(data) if data else {}
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise RemoteError("InternalFailure", f"{self.url} did not answer as smlocal serve "
                              f"does (HTTP {response.status})", 500)
        if response.status != 200:
            code = str(answer.get("__type", "InternalFailure")).rpartition("#")[2]
            raise RemoteError(code, str(answer.get("message", "")), response.status)
        return answer


    def _unreachable(self, reason: object) -> NoReturn:
        raise SpecError([Problem("--endpoint", (
            f"no smlocal server answers at {self.url} ({reason}): start one with "
            f"`smlocal serve`, or unset {ENDPOINT_ENV}"))]) from None


Signer = Callable[[str, bytes, dict[str, str]], dict[str, str]]


def signer(url: str) -> Signer:
    """Signs requests (SigV4, botocore's signer) with this process's AWS credentials."""
    import botocore.session
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = botocore.session.Session()
    credentials = session.get_credentials()
    if credentials is None:
        raise SpecError([Problem("--endpoint", (
            f"{url} answers only signed requests (serve --auth): give this command the AWS "
            "credentials the server runs with (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"))])
    frozen = credentials.get_frozen_credentials()
    region = session.get_config_variable("region") or "us-east-1"

    def sign(target: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        service = "logs" if target.startswith("Logs_") else "sagemaker"
        request = AWSRequest(method="POST", url=f"{url.rstrip('/')}/", data=body,
                             headers=headers)
        SigV4Auth(frozen, service, region).add_auth(request)
        return dict(request.headers.items())

    return sign
