"""A job's AWS credentials, kept current in the folders its containers' endpoints serve.

Each host's container reads its credentials from an endpoint on its own loopback
(runner.contract.credentials), which serves the files of one folder per host. This writes
them, renews them before they expire, and deletes them when the job ends; its containers'
environment holds only the endpoint's URL and token.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.aws.clients import AwsClients
from runner.aws.credentials import TemporaryCredentials, job_credentials
from runner.contract import credentials as endpoint
from runner.core.redaction import Redactor
from runner.engines.base import Workspace

#: Renewed this long before they expire (SDKs fetch anew from 15 minutes before), at most this
#: long apart, and retried this soon after a renewal failed.
RENEW_BEFORE_SECONDS = 20 * 60
RENEW_AT_MOST_SECONDS = 30 * 60
RETRY_SECONDS = 60
FOLDER = "credentials"  # in a host's workspace, beside (not under) what the container mounts


class JobCredentials:
    """The credentials of one job's hosts. ``start()`` fetches and writes them (AwsError when
    there are none to give) and renews them in a thread until ``stop()``."""

    def __init__(
        self, folders: dict[str, Path], fetch: Callable[[], TemporaryCredentials],
        redact: Redactor, warn: Callable[[str], None],
    ) -> None:
        self.folders = folders  # host -> its folder
        self._fetch = fetch
        self._redact = redact
        self._warn = warn
        self._stop = threading.Event()
        self._files = threading.Lock()  # a renewal's writes, or stop()'s deletes
        self._thread: threading.Thread | None = None
        self.source = ""  # how they were made (no secret)

    def start(self) -> dict[str, str]:
        """Write the credentials (and the token, kept from an earlier start of the same job:
        its containers already hold it) and keep them current; the containers' environment."""
        token = self._token()
        self._redact.add(token)
        expiration = self._renew()
        for folder in self.folders.values():
            _write(folder / endpoint.TOKEN_FILE, token)
        self._thread = threading.Thread(target=self._keep_current, args=(expiration,),
                                        name="smlocal-credentials", daemon=True)
        self._thread.start()
        return endpoint.endpoint_environment(token)

    def stop(self) -> None:
        """Stop renewing and delete the files: nothing of them outlives the job (a renewal
        still waiting on STS writes nothing once this returns)."""
        self._stop.set()
        with self._files:
            remove_files(self.folders.values())
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _token(self) -> str:
        try:
            found = (next(iter(self.folders.values())) / endpoint.TOKEN_FILE).read_text().strip()
        except (OSError, StopIteration):
            found = ""
        return found or secrets.token_urlsafe(32)

    def _renew(self) -> datetime:
        found = self._fetch()
        creds = found.credentials
        self._redact.add(creds.secret_key, creds.token)
        document = endpoint.credentials_document(creds.access_key, creds.secret_key, creds.token,
                                                 found.expiration)
        with self._files:
            if self._stop.is_set():
                return found.expiration
            for folder in self.folders.values():
                _write(folder / endpoint.CREDENTIALS_FILE, document)
        self.source = found.source
        return found.expiration

    def _keep_current(self, expiration: datetime) -> None:
        while True:
            left = (expiration - datetime.now(UTC)).total_seconds()
            wait = min(max(left - RENEW_BEFORE_SECONDS, RETRY_SECONDS), RENEW_AT_MOST_SECONDS)
            if self._stop.wait(wait):
                return
            try:
                expiration = self._renew()
            except Exception as exc:  # AwsError, a full disk: said, and tried again soon
                self._warn(f"the containers' credentials could not be renewed: {exc}")


def for_job(
    clients: AwsClients, request: dict[str, Any], assume_role: bool,
    workspaces: dict[str, Workspace], redact: Redactor, warn: Callable[[str], None],
) -> JobCredentials:
    """The credentials of the job of ``request``, in a folder of each host's workspace that
    is not mounted in its container."""
    def fetch() -> TemporaryCredentials:
        return job_credentials(clients, str(request.get("RoleArn") or ""),
                               request["TrainingJobName"], assume_role)

    folders = {host: workspace.local_folder(FOLDER) for host, workspace in workspaces.items()}
    return JobCredentials(folders, fetch, redact, warn)


def remove_files(folders: Iterable[Path]) -> None:
    """Delete what the endpoints serve from ``folders`` (also a job's left by a runner that
    died)."""
    for folder in folders:
        for name in (endpoint.CREDENTIALS_FILE, endpoint.TOKEN_FILE):
            (folder / name).unlink(missing_ok=True)


def _write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, readable by its owner only (the helper reads it)."""
    path.parent.chmod(0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
