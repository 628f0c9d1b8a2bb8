"""The container credentials endpoint on Docker: a helper container that owns the network.

The AWS SDKs take a plain-HTTP credentials endpoint only on a loopback address (or the ECS
and EKS ones), so the endpoint has to listen inside the training container's own network
namespace. A helper container is made first, with everything of the host's network (its
hostname, the job's network, aliases, fixed address, extra hosts); it runs
``credentials_server.py`` on 127.0.0.1 and the training container joins its network
(``network_mode: container:<helper>``), as the pause container of a Kubernetes pod or an ECS
task does. The helper sees the job's credentials folder (read-only) and nothing else; the
training container never sees that folder.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from runner.contract import credentials as endpoint
from runner.engines.base import BackendError, ContainerSpec, Mount

#: An image with python3 for the helper; when it is missing, the job's own image (every
#: SageMaker framework image has python3).
HELPER_IMAGE = "smlocal/python:3.11"
HELPER_LABEL = "smlocal.helper"
HELPER_OF_LABEL = "smlocal.helper-of"
READY_SECONDS = 30.0
_INSIDE = "/smlocal/credentials"
_SERVER = "credentials_server.py"


def helper_name(container_name: str) -> str:
    return f"{container_name}-credentials"


def helper_spec(spec: ContainerSpec, container_name: str, image: str) -> ContainerSpec:
    """The helper of ``spec``'s container: its network, the folder, a small server."""
    assert spec.credentials_folder is not None
    labels = {k: v for k, v in spec.labels.items() if k not in ("smlocal.job", "smlocal.host")}
    return ContainerSpec(
        name=helper_name(container_name), image=image, hostname=spec.hostname,
        entrypoint=["python3"],
        command=["-I", f"{_INSIDE}/{_SERVER}", str(endpoint.PORT), _INSIDE, endpoint.PATH],
        environment={}, mounts=[Mount(spec.credentials_folder, _INSIDE, read_only=True)],
        labels={**labels, HELPER_LABEL: "credentials", HELPER_OF_LABEL: container_name},
        cpus=None, memory_bytes=128 * 1024 * 1024, network=spec.network,
        network_aliases=spec.network_aliases, network_address=spec.network_address,
        extra_hosts=spec.extra_hosts,
    )


def place_server(folder: str) -> None:
    """Put the server program in the folder the helper sees."""
    shutil.copyfile(Path(__file__).with_name(_SERVER), Path(folder) / _SERVER)


def wait_ready(api: Any, helper_id: str, image: str) -> None:
    """Return once the helper listens; BackendError (the helper removed) when it cannot."""
    import docker.errors

    deadline = time.monotonic() + READY_SECONDS
    while True:
        try:
            out = api.logs(helper_id, stdout=True, stderr=True)
            state = api.inspect_container(helper_id).get("State") or {}
        except docker.errors.APIError as exc:
            raise BackendError(f"the credentials endpoint's helper is gone: "
                               f"{exc.explanation or exc}") from None
        if b"ready" in out.split(b"\n", 1)[0]:
            return
        if not state.get("Running") or time.monotonic() > deadline:
            tail = out.decode("utf-8", "replace").strip().splitlines()[-3:]
            why = ("did not start listening within "
                   f"{READY_SECONDS:.0f} s" if state.get("Running") else "ended")
            raise BackendError(
                f"the credentials endpoint's helper container ({image}) {why}"
                + (f": {' | '.join(tail)}" if tail else "")
                + f"; it needs python3: build {HELPER_IMAGE} (make images)")
        time.sleep(0.02)
