"""Tests for runner.training.credentials: the files the endpoints serve, kept current."""

from __future__ import annotations

import json
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runner.aws.clients import AwsError, Credentials
from runner.aws.credentials import TemporaryCredentials
from runner.contract import credentials as endpoint
from runner.core.redaction import Redactor
from runner.training import credentials
from runner.training.credentials import JobCredentials


class Source:
    def __init__(self, lifetime: float = 3600) -> None:
        self.calls = 0
        self.lifetime = lifetime
        self.fail = False

    def __call__(self) -> TemporaryCredentials:
        if self.fail:
            raise AwsError("AccessDenied in AssumeRole: no")
        self.calls += 1
        return TemporaryCredentials(
            Credentials(f"ASIA{self.calls}", f"secret-{self.calls}", f"session-token-{self.calls}"),
            datetime.now(UTC) + timedelta(seconds=self.lifetime), "test")


def served(folder: Path) -> dict[str, str]:
    return dict(json.loads((folder / endpoint.CREDENTIALS_FILE).read_text()))


def test_start_writes_private_files_and_the_environment(tmp_path: Path) -> None:
    folders = {"algo-1": tmp_path / "a", "algo-2": tmp_path / "b"}
    for folder in folders.values():
        folder.mkdir()
    redact = Redactor()
    job = JobCredentials(folders, Source(), redact, warn=print)
    env = job.start()
    try:
        token = (folders["algo-1"] / endpoint.TOKEN_FILE).read_text()
        assert env == {endpoint.FULL_URI_ENV: endpoint.endpoint_url(), endpoint.TOKEN_ENV: token}
        for folder in folders.values():
            assert served(folder)["AccessKeyId"] == "ASIA1"
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
            for name in (endpoint.CREDENTIALS_FILE, endpoint.TOKEN_FILE):
                assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
        assert redact("secret-1 session-token-1 " + token) == "**** **** ****"
    finally:
        job.stop()
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []  # nothing outlives it


def test_a_second_start_keeps_the_token_the_containers_hold(tmp_path: Path) -> None:
    first = JobCredentials({"algo-1": tmp_path}, Source(), Redactor(), warn=print)
    env = first.start()
    first._stop.set()  # a runner that died: its files stay
    again = JobCredentials({"algo-1": tmp_path}, Source(), Redactor(), warn=print)
    assert again.start() == env
    again.stop()


def test_renewed_before_they_expire_and_failures_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(credentials, "RENEW_BEFORE_SECONDS", 0.9)
    monkeypatch.setattr(credentials, "RETRY_SECONDS", 0.05)
    source, warnings = Source(lifetime=1.0), []
    job = JobCredentials({"algo-1": tmp_path}, source, Redactor(), warn=warnings.append)
    job.start()
    try:
        deadline = time.monotonic() + 10
        while source.calls < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert source.calls >= 3 and served(tmp_path)["AccessKeyId"] != "ASIA1"
        source.fail = True
        while not warnings and time.monotonic() < deadline:
            time.sleep(0.02)
        assert warnings[0] == ("the containers' credentials could not be renewed: "
                               "AccessDenied in AssumeRole: no")
        source.fail = False
        calls = source.calls
        while source.calls == calls and time.monotonic() < deadline:
            time.sleep(0.02)
        assert source.calls > calls  # it goes on after a failure
    finally:
        job.stop()


def test_no_credentials_no_files(tmp_path: Path) -> None:
    source = Source()
    source.fail = True
    with pytest.raises(AwsError):
        JobCredentials({"algo-1": tmp_path}, source, Redactor(), warn=print).start()
    assert list(tmp_path.iterdir()) == []
