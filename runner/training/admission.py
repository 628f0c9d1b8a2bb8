"""One admission queue for the machine: the CPUs, memory and GPUs that the running training
jobs' instance types ask for are counted together, so jobs submitted at once (two tuning
jobs to one server, say) share the machine instead of oversubscribing it. A job that does not
fit waits in ``Starting``, as SageMaker's do when capacity is short, and jobs are admitted in
the order they asked (a big job is not starved by small ones behind it).

A job asking for more than the machine has at all is counted as the whole machine: it runs,
alone. ``local`` instance types ask for nothing. Waiting goes through the clock.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runner.contract import instances
from runner.core.clock import Clock

POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Demand:
    cpus: float = 0.0
    memory_bytes: int = 0
    gpus: int = 0

    def __str__(self) -> str:
        text = f"{self.cpus:g} vCPUs, {self.memory_bytes / 1024**3:.1f} GiB"
        return text + (f", {self.gpus} GPUs" if self.gpus else "")


def demand(instance_type: str, count: int, machine_gpus: int) -> Demand:
    """What a job of ``count`` instances of ``instance_type`` asks of this machine."""
    itype = instances.lookup(instance_type)
    if itype is None:
        return Demand()
    gpus = machine_gpus if itype.gpus < 0 else itype.gpus
    return Demand((itype.vcpus or 0.0) * count, (itype.memory_bytes or 0) * count, gpus * count)


def admit_job(queue: MachineCapacity, request: dict[str, Any], waiting: Callable[[str], None],
              cancelled: Callable[[], bool], at_once: bool = False) -> Callable[[], None] | None:
    """Admit the CreateTrainingJob ``request``'s instances (``MachineCapacity.admit``)."""
    config = request["ResourceConfig"]
    ask = demand(config["InstanceType"], int(config.get("InstanceCount") or 1), queue.machine.gpus)
    return queue.admit(ask, waiting, cancelled, at_once)


def this_machine(gpus: int = 0) -> Demand:
    """What this machine has: its CPUs (those this process may use), memory and ``gpus``."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return Demand(float(cpus), int(memory), gpus)


class MachineCapacity:
    """The queue; thread-safe (every job of a server asks from its own thread)."""

    def __init__(self, machine: Demand, clock: Clock) -> None:
        self.machine = machine
        self.clock = clock
        self._used = Demand()
        self._queue: list[int] = []  # tickets waiting, oldest first
        self._tickets = itertools.count()
        self._lock = threading.Lock()
        self._changed = threading.Event()

    def _clamped(self, ask: Demand) -> Demand:
        m = self.machine
        return Demand(min(ask.cpus, m.cpus), min(ask.memory_bytes, m.memory_bytes),
                      min(ask.gpus, m.gpus))

    def _fits(self, ask: Demand) -> bool:
        u, m = self._used, self.machine
        return (u.cpus + ask.cpus <= m.cpus + 1e-9
                and u.memory_bytes + ask.memory_bytes <= m.memory_bytes
                and u.gpus + ask.gpus <= m.gpus)

    def admit(self, ask: Demand, waiting: Callable[[str], None], cancelled: Callable[[], bool],
              at_once: bool = False) -> Callable[[], None] | None:
        """Wait until ``ask`` fits (``waiting(why)`` once when it does not at first); the
        function that gives it back, or None when ``cancelled()`` said so first. ``at_once``:
        count it now, fitting or not (a job whose containers run already)."""
        ask = self._clamped(ask)
        ticket = next(self._tickets)
        told = False
        with self._lock:
            self._queue.append(ticket)
        try:
            while True:
                with self._lock:
                    if at_once or (self._queue[0] == ticket and self._fits(ask)):
                        self._queue.remove(ticket)
                        self._used = _plus(self._used, ask, 1)
                        self._changed.set()
                        return self._release(ask)
                    busy = self._used
                if cancelled():
                    return None
                if not told:
                    told = True
                    waiting(f"waiting for capacity: the job asks for {ask}; running jobs hold "
                            f"{busy} of this machine's {self.machine}")
                self._changed.clear()
                self.clock.wait(self._changed, POLL_SECONDS)
        finally:
            with self._lock:
                if ticket in self._queue:
                    self._queue.remove(ticket)
                    self._changed.set()

    def _release(self, ask: Demand) -> Callable[[], None]:
        done = threading.Event()

        def release() -> None:
            with self._lock:
                if done.is_set():
                    return
                done.set()
                self._used = _plus(self._used, ask, -1)
                self._changed.set()

        return release


def _plus(a: Demand, b: Demand, sign: int) -> Demand:
    return Demand(a.cpus + sign * b.cpus, a.memory_bytes + sign * b.memory_bytes,
                  a.gpus + sign * b.gpus)
