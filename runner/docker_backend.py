"""The local Docker engine as a backend (docker-py's low-level API)."""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.backend import BackendError, ContainerSpec, ExitStatus, ImageBuildError, LogChunk, Mount

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
        raise BackendError(
            f"no Docker engine answers ({exc.__class__.__name__}: {exc}); start one "
            "(or run containers/ensure-docker.sh as root on Debian)"
        ) from None
    return client


def parse_docker_time(stamp: str) -> float:
    """Docker's RFC 3339 timestamps carry nanoseconds; Python reads microseconds."""
    stamp = stamp.rstrip("Z")
    if "." in stamp:
        head, frac = stamp.split(".", 1)
        stamp = f"{head}.{frac[:6]}"
    return datetime.fromisoformat(stamp + "+00:00").timestamp()


class LocalWorkspace:
    """A host folder per host of a job, bind-mounted piecewise under /opt/ml."""

    def __init__(self, root: Path, backend: DockerBackend) -> None:
        self.root = root
        self._backend = backend
        self._extra: list[Mount] = []
        for sub in ("input/config", "input/data", "model", "output/data"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def write_text(self, relpath: str, text: str) -> None:
        path = self._inside(relpath)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)

    def read_text(self, relpath: str, limit: int) -> str | None:
        path = self._inside(relpath)
        if not path.is_file() or path.is_symlink():
            return None
        with path.open("rb") as fh:
            return fh.read(limit * 4).decode("utf-8", errors="replace")[:limit]

    def mounts(self) -> list[Mount]:
        base = [
            Mount(str(self.root / "input"), "/opt/ml/input"),
            Mount(str(self.root / "model"), "/opt/ml/model"),
            Mount(str(self.root / "output"), "/opt/ml/output"),
        ]
        return base + self._extra

    def add_mount(self, mount: Mount) -> None:
        if mount.target.startswith("/opt/ml/input/data/"):
            channel = mount.target[len("/opt/ml/input/data/"):].split("/", 1)[0]
            (self.root / "input" / "data" / channel).mkdir(parents=True, exist_ok=True)
        self._extra.append(mount)

    def archive(self, relpath: str, destination: str) -> None:
        source = self._inside(relpath)
        dest = Path(destination)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
            if source.is_dir():
                for child in sorted(source.iterdir()):
                    tar.add(child, arcname=child.name, recursive=True)
        os.replace(tmp, dest)

    def reclaim(self) -> None:
        if os.getuid() == 0:
            return
        self._backend.chown_tree(self.root, os.getuid(), os.getgid())

    def _inside(self, relpath: str) -> Path:
        path = (self.root / relpath).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise BackendError(f"path {relpath!r} leaves the job's workspace")
        return path


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
            raise BackendError(f"cannot inspect image {image!r}: {exc.explanation or exc}") from None

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
        import docker.errors
        from docker.types import DeviceRequest
        from docker.types import Mount as DockerMount

        device_requests = None
        if spec.gpus is not None:
            if spec.gpus == "all":
                device_requests = [DeviceRequest(count=-1, capabilities=[["gpu"]])]
            else:
                ids = [g.strip() for g in spec.gpus.split(",") if g.strip()]
                device_requests = [DeviceRequest(device_ids=ids, capabilities=[["gpu"]])]
        host_config = self.api.create_host_config(
            mounts=[DockerMount(m.target, m.source, type="bind", read_only=m.read_only) for m in spec.mounts],
            init=True,
            nano_cpus=int(min(spec.cpus, self.engine_cpus()) * 1e9) if spec.cpus else None,
            mem_limit=spec.memory_bytes,
            memswap_limit=spec.memory_bytes,
            device_requests=device_requests,
            network_mode="none" if spec.network_isolation else (spec.network or "bridge"),
            extra_hosts=spec.extra_hosts or None,
            log_config={"Type": "json-file", "Config": {}},
        )
        try:
            created = self.api.create_container(
                image=spec.image, command=spec.command, entrypoint=spec.entrypoint,
                environment=spec.environment, hostname=spec.hostname, name=f"{spec.name}-{self.scope}",
                labels={**spec.labels, "smlocal.scope": self.scope}, host_config=host_config, detach=True,
            )
        except docker.errors.ImageNotFound:
            raise BackendError(f"image {spec.image!r} not found in the local Docker engine") from None
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

    def logs(self, container_id: str, stream: str, since: float | None = None) -> Iterator[LogChunk]:
        frames = self.api.logs(
            container_id, stdout=stream == "stdout", stderr=stream == "stderr",
            stream=True, follow=True, timestamps=True, since=since,
        )
        for frame in frames:
            head, _, rest = frame.partition(b" ")
            try:
                ts = parse_docker_time(head.decode("ascii"))
            except ValueError:
                ts, rest = 0.0, frame
            yield LogChunk(stream, ts, rest)

    def wait(self, container_id: str) -> ExitStatus:
        result = self.api.wait(container_id)
        code = int(result.get("StatusCode", -1))
        state = self.api.inspect_container(container_id).get("State", {})
        return ExitStatus(code=code, oom_killed=bool(state.get("OOMKilled")), error=str(state.get("Error") or ""))

    def signal(self, container_id: str, signal: str) -> None:
        import docker.errors

        try:
            self.api.kill(container_id, signal=signal)
        except docker.errors.APIError:
            pass  # already gone: nothing to signal

    def remove(self, container_id: str) -> None:
        import docker.errors

        try:
            self.api.remove_container(container_id, force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            # a DELETE that the HTTP layer sent twice under load: the first one is removing it
            if "already in progress" not in str(exc.explanation or exc):
                raise

    def find(self, labels: dict[str, str]) -> list[str]:
        filters = {"label": [f"{k}={v}" for k, v in {**labels, "smlocal.scope": self.scope}.items()]}
        return [str(c["Id"]) for c in self.api.containers(all=True, filters=filters)]

    def chown_tree(self, root: Path, uid: int, gid: int) -> None:
        """Hand a folder the containers wrote (as root) back to ``uid:gid``."""
        image = "smlocal/root:bookworm"
        if not self.image_exists(image):
            return
        self.client.containers.run(
            image, ["chown", "-R", f"{uid}:{gid}", "/w"], remove=True, network_mode="none",
            volumes={str(root): {"bind": "/w", "mode": "rw"}},
        )


def _build_failure(tag: str, detail: str, tail: list[str]) -> str:
    lines = "\n".join(f"  {line}" for line in tail[-10:])
    return f"building image {tag!r} failed: {detail.strip()}" + (f"\nlast build output:\n{lines}" if lines else "")
