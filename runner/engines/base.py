"""Where containers run: the interface every backend implements.

The local Docker engine is the one backend today (``runner.engines.docker.backend``); remote Docker
hosts and SageMaker itself fit the same interface, so nothing above it touches a daemon, a
container id format or a local path directly. A backend also owns the job's workspace (the
folders behind /opt/ml), since only it knows where the containers see files.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol


class BackendError(Exception):
    """The backend could not do what was asked; the message is for the user."""


class ImageBuildError(BackendError):
    pass


class EngineUnavailable(BackendError):
    """No engine answers at all (none runs, or none can be reached from here)."""


class EngineLost(BackendError):
    """The engine stopped answering while a job used it (restarted, crashed, its socket gone)."""


class WorkspaceEscape(BackendError):
    """A path of a job's workspace leads out of it: the container made it (or a folder on
    its way) a symbolic link.  The algorithm's doing, never followed."""

    def __init__(self, relpath: str) -> None:
        self.relpath = relpath
        super().__init__(f"path {relpath!r} leaves the job's workspace")

    def container_path(self) -> str:
        """Where the container sees the path (``/opt/ml/...``)."""
        return "/opt/ml/" + self.relpath.strip("/")


#: The label of the containers an engine starts beside a job's own (a credentials endpoint's
#: helper), set to the job's name: ``find({HELPER_JOB_LABEL: job})`` lists them.
HELPER_JOB_LABEL = "smlocal.helper-job"


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    hostname: str
    entrypoint: list[str] | None
    command: list[str]
    environment: dict[str, str]
    mounts: list[Mount]
    labels: dict[str, str] = field(default_factory=dict)
    cpus: float | None = None
    memory_bytes: int | None = None
    gpus: str | None = None  # None: no GPU; "all"; or "0,1"
    network_isolation: bool = False
    network: str | None = None  # a network of the job's own (several hosts); None: the default
    network_aliases: list[str] = field(default_factory=list)  # names it has on ``network``
    network_address: str | None = None  # its fixed address on ``network``
    extra_hosts: dict[str, str] = field(default_factory=dict)
    # A host folder holding runner.contract.credentials' files, which the engine serves at
    # its endpoint_url() on the container's own loopback (no other container reaches it);
    # the environment holds the endpoint's URL and token. None: no endpoint.
    credentials_folder: str | None = None
    init: bool = True  # an init process as PID 1 (it passes signals on); False: the entry point


@dataclass(frozen=True)
class JobNetwork:
    name: str  # the name containers join it by
    addresses: dict[str, str]  # host -> its IPv4 address on it


@dataclass(frozen=True)
class ExitStatus:
    code: int
    oom_killed: bool = False
    error: str = ""
    # set when neither the algorithm nor smlocal ended it: what did (the engine's shutdown,
    # ``docker stop``, the engine lost for good); the job then fails as the platform's fault
    outside: str = ""


@dataclass(frozen=True)
class LogChunk:
    """One piece of a container's output: ``data`` arrived on ``stream`` at ``ts``."""

    stream: str  # "stdout" or "stderr"
    ts: float
    data: bytes


class Workspace(Protocol):
    """The folders behind one host's /opt/ml, wherever the backend keeps them."""

    def write_text(self, relpath: str, text: str) -> None: ...

    def read_text(self, relpath: str, limit: int) -> str | None: ...

    def mounts(self) -> list[Mount]: ...

    def add_mount(self, mount: Mount) -> None: ...

    def archive(self, relpath: str, destination: str, within: str | None = None) -> None:
        """Write ``relpath``'s content as a gzipped tar to ``destination`` (a local path; with
        ``within``, the folders below ``within`` are entered without following links)."""
        ...

    def reset(self) -> None:
        """Empty the folders the container sees (a new instance's volume); the runner's own
        files stay."""
        ...

    def reclaim(self) -> None:
        """Give files the container wrote back to the user running smlocal."""
        ...

    def add_channel_files(
        self, channel: str, files: Sequence[tuple[str, Path]], root: Path | None = None,
        writable: bool = False,
    ) -> None:
        """Make ``(relpath, local file)`` pairs the content of /opt/ml/input/data/<channel>;
        with ``root`` (a user's folder) each file is reached from it without following links;
        ``writable``: copies the container may change, never the sources themselves."""
        ...

    def make_fifo(self, relpath: str) -> None:
        """Create a FIFO (Pipe mode) at ``relpath``; no error when one is there already."""
        ...

    def open_fifo(self, relpath: str, stop: threading.Event) -> BinaryIO | None:
        """The write end of the FIFO once the container opened it for reading; None when
        ``stop`` was set first."""
        ...

    def local_folder(self, relpath: str) -> Path:
        """A folder of the workspace that the runner reads and writes on this machine
        (checkpoints); created when missing."""
        ...


class Backend(Protocol):
    def image_exists(self, image: str) -> bool: ...

    def build_image(
        self,
        context: str,
        dockerfile: str,
        tag: str,
        build_args: dict[str, str],
        on_log: Callable[[str], None],
    ) -> None: ...

    def workspace(self, job_name: str, host: str) -> Workspace: ...

    def start(self, spec: ContainerSpec) -> str:
        """Create and start a container; returns its id. Leaves nothing behind on failure."""
        ...

    def logs(
        self, container_id: str, stream: str, since: float | None = None
    ) -> Iterator[list[LogChunk]]:
        """Follow one stream of a container from its start (or from ``since``, epoch seconds)
        until it ends."""
        ...

    def wait(self, container_id: str) -> ExitStatus:
        """Block until the container ends. EngineLost when the engine stops answering;
        BackendError when the container is gone."""
        ...

    def engine_alive(self) -> bool:
        """Whether the engine answers now."""
        ...

    def outside_signals(self, container_id: str, since: float) -> list[str]:
        """The signals the engine delivered to the container since ``since`` (epoch seconds),
        whoever asked for them (smlocal's own included), in order. EngineLost when the
        engine does not answer."""
        ...

    def signal(self, container_id: str, signal: str) -> None: ...

    def remove(self, container_id: str) -> None: ...

    def find(self, labels: dict[str, str]) -> list[str]:
        """Ids of containers (running or not) carrying all of ``labels``."""
        ...

    def create_network(
        self, name: str, labels: dict[str, str], hosts: list[str], internal: bool = False
    ) -> JobNetwork:
        """A network for the hosts of one job (``internal``: no way out of it, the hosts still
        reach each other), with a fixed address for each host, so that every host resolves
        every other through /etc/hosts also once one of them ended (as the service's
        instances stay). One of that name that is there already is replaced."""
        ...

    def remove_network(self, name: str) -> None:
        """Remove the network ``create_network(name, ...)`` made; no error when it is gone."""
        ...

    def gpu_ids(self) -> list[str] | None:
        """The ids of the GPUs containers can be given (for splitting them between hosts);
        None when they cannot be told."""
        ...

    def architectures(self, image: str) -> tuple[str, str | None]:
        """The engine's CPU architecture and the image's (None: no such image), in the
        image platform's words (``amd64``, ``arm64``)."""
        ...

    def instance_metrics(self, container_id: str, gpus: str | None = None) -> dict[str, float]:
        """SageMaker's instance metrics of a running container (CPUUtilization,
        MemoryUtilization, GPU ones with ``gpus``); {} when none can be had."""
        ...
