"""The local Docker engine as a backend (docker-py's low-level API)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from runner.contract.gpus import device_ids
from runner.engines.base import (
    BackendError,
    ContainerSpec,
    EngineLost,
    EngineUnavailable,
    ExitStatus,
    ImageBuildError,
    JobNetwork,
    LogChunk,
)
from runner.engines.docker import credentials_helper, instance_metrics, networks
from runner.engines.docker.logs import read_log_batches
from runner.engines.local_workspace import LocalWorkspace

LABEL_PREFIX = "smlocal."
GPU_DRIVER_ERROR = "could not select device driver"


def connect() -> Any:
    """A docker-py client from the environment, or a clear BackendError."""
    import docker  # imported here: docker-py is slow to import and not every command needs it

    try:
        # a tuning job holds three connections per running trial (two log streams, a wait)
        client = docker.from_env(timeout=300, max_pool_size=128)
        client.ping()
    except Exception as exc:  # docker raises several unrelated types here
        raise EngineUnavailable(
            f"no Docker engine answers ({exc.__class__.__name__}: {exc}); start one "
            "(or run containers/ensure-docker.sh as root on Debian)"
        ) from None
    return client


def _connection_errors() -> tuple[type[BaseException], ...]:
    import requests

    return (requests.exceptions.ConnectionError, ConnectionError)


def _engine_lost(exc: BaseException) -> EngineLost:
    return EngineLost(f"the Docker engine stopped answering ({type(exc).__name__}: {exc})")


class DockerBackend:
    def __init__(self, home: Path, client: Any | None = None) -> None:
        self.home = home
        self._client = client
        self._engine_cpus: int | None = None
        # Containers belong to one store: two stores (two projects, two test runs) may hold
        # jobs of the same name, and must neither clash on names nor find each other's.
        self.scope = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:8]

    def engine_cpus(self) -> int:
        """CPUs of the engine's machine: an instance type's vCPUs are capped to it (Docker
        refuses a CPU limit above what the machine has)."""
        if self._engine_cpus is None:
            self._engine_cpus = int(self.client.info().get("NCPU") or os.cpu_count() or 1)
        return self._engine_cpus

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect()
        return self._client

    @property
    def api(self) -> Any:
        return self.client.api

    def image_exists(self, image: str) -> bool:
        import docker.errors

        try:
            self.api.inspect_image(image)
            return True
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.APIError as exc:
            raise BackendError(f"cannot inspect image {image!r}: "
                               f"{exc.explanation or exc}") from None

    def image_labels(self, image: str) -> dict[str, str]:
        if not self.image_exists(image):
            return {}
        config = self.api.inspect_image(image).get("Config") or {}
        return dict(config.get("Labels") or {})

    def build_image(
        self,
        context: str,
        dockerfile: str,
        tag: str,
        build_args: dict[str, str],
        on_log: Callable[[str], None],
        labels: dict[str, str] | None = None,
    ) -> None:
        import docker.errors

        tail: list[str] = []
        try:
            for chunk in self.api.build(
                path=context, dockerfile=dockerfile, tag=tag, buildargs=build_args,
                rm=True, forcerm=True, decode=True, labels=labels or {},
            ):
                if "error" in chunk:
                    detail = chunk.get("errorDetail", {}).get("message") or chunk["error"]
                    raise ImageBuildError(_build_failure(tag, str(detail), tail))
                text = chunk.get("stream")
                if text:
                    for line in str(text).splitlines():
                        if not line.strip():
                            continue
                        tail = (tail + [line])[-15:]
                        on_log(line)
        except docker.errors.APIError as exc:
            raise ImageBuildError(_build_failure(tag, str(exc.explanation or exc), tail)) from None

    def workspace(self, job_name: str, host: str) -> LocalWorkspace:
        return LocalWorkspace(self.home / "jobs" / job_name / host, self)

    def start(self, spec: ContainerSpec) -> str:
        """Create and start ``spec``'s container; with a ``credentials_folder``, first the
        helper that serves it (credentials_helper), whose network the container joins."""
        if spec.credentials_folder is None or spec.network_isolation:
            return self._start(spec)
        helper = credentials_helper.helper_spec(
            spec, credentials_helper.HELPER_IMAGE
            if self.image_exists(credentials_helper.HELPER_IMAGE) else spec.image)
        self.remove(f"{helper.name}-{self.scope}")  # a job started again
        credentials_helper.place_server(spec.credentials_folder)
        helper_id = self._start(helper)
        try:
            credentials_helper.wait_ready(self.api, helper_id, helper.image)
            return self._start(spec, network_of=helper_id)
        except BaseException:
            self.remove(helper_id)
            raise

    def _start(self, spec: ContainerSpec, network_of: str | None = None) -> str:
        """``network_of``: a container whose network this one joins (its hostname, network
        and extra hosts are that container's, so the spec's are not given again)."""
        import docker.errors
        from docker.types import DeviceRequest
        from docker.types import Mount as DockerMount

        device_requests = None
        if spec.gpus is not None:
            ids = device_ids(spec.gpus)
            device_requests = [DeviceRequest(count=-1, capabilities=[["gpu"]]) if ids is None
                               else DeviceRequest(device_ids=ids, capabilities=[["gpu"]])]
        network_mode = ("none" if spec.network_isolation else f"container:{network_of}"
                        if network_of else (spec.network or "bridge"))
        host_config = self.api.create_host_config(
            mounts=[DockerMount(m.target, m.source, type="bind", read_only=m.read_only)
                    for m in spec.mounts],
            init=spec.init,
            nano_cpus=int(min(spec.cpus, self.engine_cpus()) * 1e9) if spec.cpus else None,
            mem_limit=spec.memory_bytes,
            memswap_limit=spec.memory_bytes,
            device_requests=device_requests,
            network_mode=network_mode,
            extra_hosts=(spec.extra_hosts or None) if not network_of else None,
            log_config={"Type": "json-file", "Config": {}},
        )
        networking_config = None
        if spec.network and not spec.network_isolation and not network_of:
            endpoint = self.api.create_endpoint_config(aliases=spec.network_aliases or None,
                                                       ipv4_address=spec.network_address)
            networking_config = self.api.create_networking_config({spec.network: endpoint})
        try:
            created = self.api.create_container(
                image=spec.image, command=spec.command, entrypoint=spec.entrypoint,
                environment=spec.environment, hostname=None if network_of else spec.hostname,
                name=f"{spec.name}-{self.scope}",
                labels={**spec.labels, "smlocal.scope": self.scope}, host_config=host_config,
                detach=True, networking_config=networking_config,
            )
        except docker.errors.ImageNotFound:
            raise BackendError(f"image {spec.image!r} not found in the local "
                               "Docker engine") from None
        except docker.errors.APIError as exc:
            raise BackendError(f"cannot create the container: {exc.explanation or exc}") from None
        cid = str(created["Id"])
        try:
            self.api.start(cid)
        except docker.errors.APIError as exc:
            self.remove(cid)
            message = str(exc.explanation or exc)
            if GPU_DRIVER_ERROR in message:
                raise BackendError(
                    "this instance type asks for GPUs but the Docker engine has no NVIDIA runtime "
                    "(install the NVIDIA Container Toolkit, or use a CPU instance type such as "
                    "ml.m5.xlarge or local)"
                ) from None
            raise BackendError(f"cannot start the container: {message}") from None
        return cid

    def logs(
        self, container_id: str, stream: str, since: float | None = None
    ) -> Iterator[list[LogChunk]]:
        last, seen_at_last = since, 0
        for batch in self._log_batches(container_id, stream, since, follow=True):
            for chunk in batch:
                if chunk.ts == last:
                    seen_at_last += 1
                else:
                    last, seen_at_last = chunk.ts, 1
            yield batch
        # The engine ends a follow stream when the container stops even if a slow reader has
        # not had every entry yet (json-file; seen with 200,000 lines and a reader that
        # pauses): read what is left without following, from the last entry on.
        if last is not None and last <= 0:
            last = None
        for batch in self._log_batches(container_id, stream, last, follow=False):
            rest: list[LogChunk] = []
            for chunk in batch:
                if last is not None and chunk.ts < last:
                    continue  # had it
                if chunk.ts == last and seen_at_last > 0:
                    seen_at_last -= 1  # had it too (entries of the same microsecond)
                    continue
                rest.append(chunk)
            if rest:
                yield rest

    def _log_batches(
        self, container_id: str, stream: str, since: float | None, follow: bool
    ) -> Iterator[list[LogChunk]]:
        import docker.errors

        try:
            yield from read_log_batches(self.api, container_id, stream, since, follow)
        except docker.errors.APIError:
            return  # gone, or being removed from outside: wait() says how it ended

    def wait(self, container_id: str) -> ExitStatus:
        import docker.errors

        try:
            result = self.api.wait(container_id)
            code = int(result.get("StatusCode", -1))
            state = self.api.inspect_container(container_id).get("State", {})
        except docker.errors.NotFound:
            raise BackendError(f"container {container_id[:12]} is gone (removed from "
                               "outside smlocal)") from None
        except _connection_errors() as exc:
            raise _engine_lost(exc) from None
        return ExitStatus(code=code, oom_killed=bool(state.get("OOMKilled")),
                          error=str(state.get("Error") or ""))

    def engine_alive(self) -> bool:
        try:
            return bool(self.api.ping())
        except Exception:  # any way of not answering
            return False

    def outside_signals(self, container_id: str, since: float) -> list[str]:
        import time

        try:
            events = self.api.events(since=since, until=time.time(), decode=True, filters={
                "type": "container", "container": container_id, "event": "kill"})
            return [str((e.get("Actor") or {}).get("Attributes", {}).get("signal", ""))
                    for e in events]
        except _connection_errors() as exc:
            raise _engine_lost(exc) from None

    def signal(self, container_id: str, signal: str) -> None:
        import docker.errors

        try:
            self.api.kill(container_id, signal=signal)
        except docker.errors.APIError:
            pass  # already gone: nothing to signal
        except _connection_errors() as exc:
            raise _engine_lost(exc) from None

    def remove(self, container_id: str) -> None:
        """Remove a container, and the helper whose network it joined (if it has one)."""
        import docker.errors

        try:
            mode = str((self.api.inspect_container(container_id).get("HostConfig") or {})
                       .get("NetworkMode") or "")
            self.api.remove_container(container_id, force=True, v=True)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            # a DELETE that the HTTP layer sent twice under load: the first one is removing it
            if "already in progress" not in str(exc.explanation or exc):
                raise
        except _connection_errors() as exc:
            raise _engine_lost(exc) from None
        if mode.startswith("container:"):
            self.remove(mode.split(":", 1)[1])

    def find(self, labels: dict[str, str]) -> list[str]:
        filters = {"label": [f"{k}={v}"
                             for k, v in {**labels, "smlocal.scope": self.scope}.items()]}
        try:
            return [str(c["Id"]) for c in self.api.containers(all=True, filters=filters)]
        except _connection_errors() as exc:
            raise _engine_lost(exc) from None

    def create_network(
        self, name: str, labels: dict[str, str], hosts: list[str], internal: bool = False
    ) -> JobNetwork:
        return networks.create_network(self.api, f"{name}-{self.scope}",
                                       {**labels, "smlocal.scope": self.scope}, hosts, internal)

    def remove_network(self, name: str) -> None:
        networks.remove_network(self.api, f"{name}-{self.scope}")

    def architectures(self, image: str) -> tuple[str, str | None]:
        engine = str(self.client.info().get("Architecture") or "")
        if not self.image_exists(image):
            return platform_architecture(engine), None
        found = str(self.api.inspect_image(image).get("Architecture") or "")
        return platform_architecture(engine), platform_architecture(found)

    def gpu_ids(self) -> list[str] | None:
        """The engine's GPUs, from nvidia-smi on this machine, when the engine runs here."""
        base = str(getattr(self.api, "base_url", ""))
        if (not base.startswith(("http+unix://", "http+docker://"))
                or not shutil.which("nvidia-smi")):
            return None
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=10, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            return None
        return [line.strip() for line in out.splitlines() if line.strip()]

    def host_gateway(self) -> str:
        """The address at which containers on the default bridge reach this machine (a server
        bound there is reachable from the host and from bridged containers alike)."""
        return networks.host_gateway(self.api)

    def instance_metrics(self, container_id: str, gpus: str | None = None) -> dict[str, float]:
        """CPUUtilization and MemoryUtilization of the container now (from ``docker stats``),
        and the GPU ones when it has GPUs; {} once it is gone."""
        import docker.errors

        try:
            stats = self.api.stats(container_id, stream=False)
        except docker.errors.APIError:
            return {}
        out: dict[str, float] = {}
        for name, value in (
            ("CPUUtilization", instance_metrics.cpu_percent(stats)),
            ("MemoryUtilization", instance_metrics.memory_percent(stats)),
        ):
            if value is not None:
                out[name] = value
        if gpus is not None and shutil.which("nvidia-smi"):
            try:
                text = subprocess.run(instance_metrics.NVIDIA_SMI_ARGV, capture_output=True,
                                      text=True, timeout=10, check=True).stdout
            except (OSError, subprocess.SubprocessError):
                text = ""
            out.update(instance_metrics.gpu_percents(text, device_ids(gpus)))
        return out

    def chown_tree(self, root: Path, uid: int, gid: int) -> None:
        """Hand a folder the containers wrote (as root) back to ``uid:gid``."""
        image = "smlocal/root:bookworm"
        if not self.image_exists(image):
            return
        self.client.containers.run(
            image, ["chown", "-R", f"{uid}:{gid}", "/w"], remove=True, network_mode="none",
            volumes={str(root): {"bind": "/w", "mode": "rw"}},
        )


def platform_architecture(name: str) -> str:
    """An architecture as an image platform names it (``uname -m``'s x86_64 is amd64)."""
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(name, name)


def _build_failure(tag: str, detail: str, tail: list[str]) -> str:
    lines = "\n".join(f"  {line}" for line in tail[-10:])
    return (f"building image {tag!r} failed: {detail.strip()}"
            + (f"\nlast build output:\n{lines}" if lines else ""))
