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
from runner.engines.base import HELPER_JOB_LABEL, BackendError, ContainerSpec, Mount

#: An image with python3 for the helper; when it is missing, the job's own image (every
#: SageMaker framework image has python3).
HELPER_IMAGE = "smlocal/python:3.11"
READY_SECONDS = 30.0
_INSIDE = "/smlocal/credentials"
_SERVER = "credentials_server.py"


def helper_spec(spec: ContainerSpec, image: str) -> ContainerSpec:
    """The helper of ``spec``'s container: its network, the folder, a small server. Its
    labels are the container's but for the job's and host's own (``find`` of a job's
    containers never lists it), and the job's name under HELPER_JOB_LABEL."""
    assert spec.credentials_folder is not None
    labels = {k: v for k, v in spec.labels.items() if k not in ("smlocal.job", "smlocal.host")}
    return ContainerSpec(
        name=f"{spec.name}-credentials", image=image, hostname=spec.hostname,
        entrypoint=["python3"],
        command=["-I", f"{_INSIDE}/{_SERVER}", str(endpoint.PORT), _INSIDE, endpoint.PATH],
        environment={}, mounts=[Mount(spec.credentials_folder, _INSIDE, read_only=True)],
        labels={**labels, HELPER_JOB_LABEL: spec.labels.get("smlocal.job", "")},
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
            out = api.logs(helper_id, stdout=True, stderr=False)
            if b"ready" in out.split():
                return
            state = api.inspect_container(helper_id).get("State") or {}
        except docker.errors.APIError as exc:
            raise BackendError(f"the credentials endpoint's helper is gone: "
                               f"{exc.explanation or exc}") from None
        if not state.get("Running") or time.monotonic() > deadline:
            err = api.logs(helper_id, stdout=False, stderr=True)
            tail = err.decode("utf-8", "replace").strip().splitlines()[-3:]
            why = ("did not start listening within "
                   f"{READY_SECONDS:.0f} s" if state.get("Running") else "ended")
            raise BackendError(
                f"the credentials endpoint's helper container ({image}) {why}"
                + (f": {' | '.join(tail)}" if tail else "")
                + f"; it runs python3 as root to read the job's credentials folder: build "
                f"{HELPER_IMAGE} (make images)")
        time.sleep(0.05)
