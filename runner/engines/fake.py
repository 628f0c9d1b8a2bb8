"""An engine in memory, for tests: a container is a Python function run in a thread.

It keeps the ``Backend`` contract the Docker backend keeps (a container's output as
timestamped chunks that a reader follows until it ended, its exit status, signals
delivered and reported, labels, networks), and its workspaces are the same folders on this
machine (``LocalWorkspace``), so a ``TrainingRun`` or a ``Tuner`` runs end to end over it:
config files written, channels staged, model and output archived. A program waits through
the backend's clock, so a ``FakeClock`` runs a job of minutes in milliseconds.

A program (``Program``) gets a ``FakeContainer``: its ``ContainerSpec``, its /opt/ml as
folders (``path``), ``print`` for its output, ``sleep`` (True once it was sent SIGTERM) and
``hyperparameters``. What it returns is its exit code; an exception is exit code 1 with the
exception's line on stderr; ``OutOfMemory`` is an OOM kill. SIGKILL ends a container at
once (exit 137), whatever its program does next.
"""

from __future__ import annotations

import itertools
import json
import signal as signals
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from runner.core.clock import Clock, SystemClock
from runner.engines.base import BackendError, ContainerSpec, ExitStatus, JobNetwork, LogChunk
from runner.engines.local_workspace import LocalWorkspace

Program = Callable[["FakeContainer"], int]
_READ_PAUSE = 0.05  # real seconds a log reader waits for more output before looking again


class OutOfMemory(Exception):
    """Raised by a program: its container ends as the kernel's OOM killer ends one (exit 137,
    OOMKilled)."""


class FakeContainer:
    """What a fake container's program sees and does."""

    def __init__(self, spec: ContainerSpec, clock: Clock) -> None:
        self.spec = spec
        self.clock = clock
        self.terminated = threading.Event()  # SIGTERM arrived
        self._output: list[LogChunk] = []
        self._changed = threading.Condition()
        self.ended = False
        self.killed_from_outside = False

    def kill_from_outside(self) -> None:
        """End as a container the engine killed (``docker kill``): the program should return
        at once; the job fails as the platform's fault."""
        self.killed_from_outside = True

    @property
    def environment(self) -> dict[str, str]:
        return self.spec.environment

    def path(self, container_path: str) -> Path:
        """The folder or file on this machine that ``container_path`` (/opt/ml/...) is."""
        best = None
        for mount in self.spec.mounts:
            target = mount.target.rstrip("/")
            if container_path == target or container_path.startswith(target + "/"):
                if best is None or len(target) > len(best.target.rstrip("/")):
                    best = mount
        if best is None:
            raise FileNotFoundError(f"{container_path} is not mounted in the fake container")
        rest = container_path[len(best.target.rstrip("/")):].lstrip("/")
        return Path(best.source) / rest if rest else Path(best.source)

    def hyperparameters(self) -> dict[str, str]:
        text = self.path("/opt/ml/input/config/hyperparameters.json").read_text(encoding="utf-8")
        out: dict[str, str] = json.loads(text)
        return out

    def print(self, line: str, stream: str = "stdout") -> None:
        with self._changed:
            self._output.append(LogChunk(stream, self.clock.now(), (line + "\n").encode()))
            self._changed.notify_all()

    def sleep(self, seconds: float) -> bool:
        """Let ``seconds`` pass on the clock; True (at once) when SIGTERM arrived."""
        return self.clock.wait(self.terminated, seconds)

    def _end(self) -> None:
        with self._changed:
            self.ended = True
            self._changed.notify_all()

    def chunks(self, stream: str, since: float | None) -> Iterator[list[LogChunk]]:
        seen = 0
        while True:
            with self._changed:
                if seen >= len(self._output) and not self.ended:
                    self._changed.wait(_READ_PAUSE)
                new, seen, ended = self._output[seen:], len(self._output), self.ended
            batch = [c for c in new if c.stream == stream and (since is None or c.ts > since)]
            if batch:
                yield batch
            elif ended and not new:
                return


@dataclass
class _Container:
    box: FakeContainer
    labels: dict[str, str]
    thread: threading.Thread | None = None
    status: ExitStatus | None = None
    done: threading.Event = field(default_factory=threading.Event)
    delivered: list[str] = field(default_factory=list)  # signal numbers


class FakeBackend:
    """Containers in memory running ``programs[image]``; workspaces under ``root``."""

    def __init__(
        self, root: Path, programs: dict[str, Program], clock: Clock | None = None
    ) -> None:
        self.root = root
        self.programs = programs
        self.clock = clock or SystemClock()
        self.started: list[ContainerSpec] = []  # every container started, in order
        self.image_architectures: dict[str, str] = {}  # image -> its architecture (amd64)
        self._containers: dict[str, _Container] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- images ----------------------------------------------------------------------------
    def image_exists(self, image: str) -> bool:
        return image in self.programs

    def build_image(
        self, context: str, dockerfile: str, tag: str, build_args: dict[str, str],
        on_log: Callable[[str], None],
    ) -> None:
        raise BackendError("the fake engine builds no image")

    # -- workspaces ------------------------------------------------------------------------
    def workspace(self, job_name: str, host: str) -> LocalWorkspace:
        return LocalWorkspace(self.root / "jobs" / job_name / host, self)

    def chown_tree(self, root: Path, uid: int, gid: int) -> None:
        """Nothing to give back: the fake containers write as the user running the tests."""

    # -- containers ------------------------------------------------------------------------
    def start(self, spec: ContainerSpec) -> str:
        program = self.programs.get(spec.image)
        if program is None:
            raise BackendError(f"No such image: {spec.image}")
        cid = f"fake{next(self._ids):08d}"
        container = _Container(FakeContainer(spec, self.clock), dict(spec.labels))
        with self._lock:
            self._containers[cid] = container
            self.started.append(spec)
        container.thread = threading.Thread(
            target=self._run, args=(container, program), name=f"fake-{spec.hostname}", daemon=True
        )
        container.thread.start()
        return cid

    def _run(self, container: _Container, program: Program) -> None:
        oom = False
        try:
            code = int(program(container.box))
        except OutOfMemory:
            code, oom = 137, True
        except Exception as exc:  # the algorithm's bug: exit 1 with its line on stderr
            container.box.print(f"{type(exc).__name__}: {exc}", "stderr")
            code = 1
        if container.box.killed_from_outside:
            container.delivered.append(str(int(signals.SIGKILL)))
            code = 137
        self._finish(container, ExitStatus(code, oom_killed=oom))

    def _finish(self, container: _Container, status: ExitStatus) -> None:
        with self._lock:
            if container.status is not None:
                return  # killed meanwhile
            container.status = status
        container.box._end()
        container.done.set()

    def _get(self, cid: str) -> _Container:
        with self._lock:
            container = self._containers.get(cid)
        if container is None:
            raise BackendError(f"No such container: {cid}")
        return container

    def logs(
        self, container_id: str, stream: str, since: float | None = None
    ) -> Iterator[list[LogChunk]]:
        return self._get(container_id).box.chunks(stream, since)

    def wait(self, container_id: str) -> ExitStatus:
        container = self._get(container_id)
        container.done.wait()
        assert container.status is not None
        return container.status

    def engine_alive(self) -> bool:
        return True

    def outside_signals(self, container_id: str, since: float) -> list[str]:
        return list(self._get(container_id).delivered)

    def signal(self, container_id: str, signal: str) -> None:
        container = self._get(container_id)
        if container.status is not None:
            return
        container.delivered.append(str(int(signals.Signals[signal])))
        container.box.terminated.set()  # (after SIGKILL: its program ends at its next sleep)
        if signal == "SIGKILL":
            self._finish(container, ExitStatus(137))

    def remove(self, container_id: str) -> None:
        with self._lock:
            container = self._containers.pop(container_id, None)
        if container is not None and container.status is None:
            container.box.terminated.set()
            self._finish(container, ExitStatus(137))

    def find(self, labels: dict[str, str]) -> list[str]:
        with self._lock:
            return [cid for cid, c in self._containers.items()
                    if all(c.labels.get(k) == v for k, v in labels.items())]

    def running(self) -> list[str]:
        """Ids of the containers whose program has not ended."""
        with self._lock:
            return [cid for cid, c in self._containers.items() if c.status is None]

    # -- networks, GPUs, metrics -------------------------------------------------------------
    def create_network(
        self, name: str, labels: dict[str, str], hosts: list[str], internal: bool = False
    ) -> JobNetwork:
        return JobNetwork(name, {host: f"10.99.0.{i + 2}" for i, host in enumerate(hosts)})

    def remove_network(self, name: str) -> None:
        pass

    def architectures(self, image: str) -> tuple[str, str | None]:
        return "amd64", (self.image_architectures.get(image, "amd64")
                         if image in self.programs else None)

    def gpu_ids(self) -> list[str] | None:
        return None

    def instance_metrics(self, container_id: str, gpus: str | None = None) -> dict[str, float]:
        return {}
