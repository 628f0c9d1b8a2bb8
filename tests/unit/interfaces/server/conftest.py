"""A server on a free port, on the fake engine, for the server's tests."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette

from runner.api.service import Service
from runner.engines.fake import FakeBackend, FakeContainer
from runner.interfaces.server.app import make_app

IMAGE = "fake/algo:latest"


def algorithm(box: FakeContainer) -> int:
    hps = box.hyperparameters()
    x = float(hps.get("x", "1"))
    for epoch in range(1, int(hps.get("epochs", "2")) + 1):
        if box.sleep(float(hps.get("pause", "0.01"))):
            return 143
        box.print(f"epoch={epoch} loss={(x - 3) ** 2 + 1 / epoch:.4f}")
    (box.path("/opt/ml/model") / "w.txt").write_text("w")
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fake_service(home: Path) -> Service:
    service = Service(home, engine=lambda home: FakeBackend(home / "engine", {IMAGE: algorithm}))
    service.as_server()  # as `smlocal serve` does: jobs queue for this machine's CPUs
    return service


@contextlib.contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """``app`` on a free loopback port, on a thread: its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.chdir(tmp_path)  # file:// paths of requests are relative to the server's folder
    with serving(make_app(fake_service(tmp_path / "home"))) as url:
        yield url


def post(endpoint: str, target: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if target is not None:
        headers["X-Amz-Target"] = target
    request = urllib.request.Request(endpoint, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
