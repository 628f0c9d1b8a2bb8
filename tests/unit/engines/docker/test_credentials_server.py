"""The credentials endpoint's server program, run as the helper container runs it, and read by
botocore's own container credentials provider (what boto3 in a training container uses)."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.credentials import ContainerProvider

from runner.contract import credentials as endpoint
from runner.engines.docker import credentials_helper

SERVER = Path(credentials_helper.__file__).with_name("credentials_server.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-I", str(SERVER), str(port), str(tmp_path),
                             endpoint.PATH], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        yield tmp_path, endpoint.endpoint_url(port)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert b"token" not in err and b"GET" not in err  # it logs no request


def status_of(url: str, token: str | None) -> int:
    req = urllib.request.Request(url, headers={"Authorization": token} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_botocore_reads_the_endpoint(served: tuple[Path, str]) -> None:
    folder, url = served
    expires = datetime.now(UTC) + timedelta(hours=1)
    (folder / endpoint.TOKEN_FILE).write_text("tok-123\n")
    (folder / endpoint.CREDENTIALS_FILE).write_text(
        endpoint.credentials_document("ASIAEXAMPLE", "s3cret", "sess", expires))
    found = ContainerProvider({endpoint.FULL_URI_ENV: url, endpoint.TOKEN_ENV: "tok-123"}).load()
    frozen = found.get_frozen_credentials()
    assert (found.method, frozen.access_key, frozen.secret_key, frozen.token) == (
        "container-role", "ASIAEXAMPLE", "s3cret", "sess")
    # replaced files are served as they are at each request (the runner renews them)
    (folder / endpoint.CREDENTIALS_FILE).write_text(
        endpoint.credentials_document("ASIANEW", "other", None, expires))
    found = ContainerProvider({endpoint.FULL_URI_ENV: url, endpoint.TOKEN_ENV: "tok-123"}).load()
    frozen = found.get_frozen_credentials()
    assert frozen.access_key == "ASIANEW" and not frozen.token  # keys without a session


def test_only_the_token_and_the_path_are_answered(served: tuple[Path, str]) -> None:
    folder, url = served
    assert status_of(url, "tok") == 503  # nothing written yet
    (folder / endpoint.TOKEN_FILE).write_text("tok")
    (folder / endpoint.CREDENTIALS_FILE).write_text("{}")
    assert status_of(url, "tok") == 200
    assert status_of(url, None) == status_of(url, "tok2") == status_of(url, "to") == 401
    assert status_of(url.replace(endpoint.PATH, "/other"), "tok") == 404
    (folder / endpoint.TOKEN_FILE).write_text("")
    assert status_of(url, "") == 401  # an empty token never matches


def test_the_endpoint_url_is_one_the_sdks_accept() -> None:
    from botocore.utils import ContainerMetadataFetcher

    ContainerMetadataFetcher()._validate_allowed_url(endpoint.endpoint_url())  # raises if not
