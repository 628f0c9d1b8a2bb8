"""The tuner's only view of a trial: a training job that it starts, stops and polls (in the
spirit of Syne Tune's ``TrialBackend``). Jobs run in this process on the local engine
(``runner.api.local_trials``) or, later, on SageMaker; the tuner cannot tell.

Rules every implementation keeps:

- **One caller.** The tuner calls the backend from its own thread only; the backend may run
  the jobs on threads of its own (the events it hands back are gathered thread-safely).
- **Start means created.** When ``start`` returns, the training job exists: ``describe``
  answers for it. ``start`` never waits for the job to run or end.
- **Events in order, the end once.** ``poll`` hands back what happened since the last poll,
  oldest first: every new value of the trial's objective metric (``TrialEvent.value``) as the
  job emits it, and once, last of that job, its end (``TrialEvent.ended``). Every ``start``
  and ``resume`` is followed by exactly one end, however the job ended (a job that could not
  run is recorded Failed and ends too).
- **Waiting through the clock.** ``poll(timeout)`` returns at once when something happened,
  else after ``timeout`` seconds on the backend's clock (a ``FakeClock`` makes that instant).
- **Snapshots.** ``describe`` returns a copy of the job's record (DescribeTrainingJob's
  fields) that later changes never touch, or None for a job never created; a job that ended
  never changes again, so its record and its ``metric_values`` can be kept.
- **Stop is a request.** ``stop`` asks the job to stop (SageMaker's StopTrainingJob); the job
  ends later (its end arrives through ``poll``); stopping an ended job does nothing.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from runner.core.clock import Clock


@dataclass(frozen=True)
class TrialEvent:
    """What ``poll`` reports of one training job: a new objective value, or its end."""

    job: str  # TrainingJobName
    value: float | None = None  # a value of the objective metric, as the job emitted it
    ended: bool = False


class TrialBackend(Protocol):
    def start(self, request: dict[str, Any], metric: str) -> None:
        """CreateTrainingJob (``request``) and run it, reporting values of ``metric``."""
        ...

    def resume(self, request: dict[str, Any], metric: str) -> list[float]:
        """Carry on with the created job of ``request`` that an earlier process left running;
        the values of ``metric`` it reported so far."""
        ...

    def stop(self, job: str) -> None:
        """Ask the job to stop."""
        ...

    def poll(self, timeout: float) -> list[TrialEvent]:
        """What happened since the last poll (see the module's rules)."""
        ...

    def describe(self, job: str) -> dict[str, Any] | None:
        """The job's record (a snapshot), None when it was never created."""
        ...

    def metric_values(self, job: str, metric: str) -> list[float]:
        """Every value of ``metric`` the job reported, in order."""
        ...


class TrialEvents:
    """The events of a backend whose jobs run on threads of their own: ``put`` from any
    thread, ``poll`` (the backend's, as its rules say) from the tuner's."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._events: queue.Queue[TrialEvent] = queue.Queue()
        self._ready = threading.Event()

    def put(self, event: TrialEvent) -> None:
        self._events.put(event)
        self._ready.set()

    def poll(self, timeout: float) -> list[TrialEvent]:
        events = self._take()
        if not events:
            self.clock.wait(self._ready, timeout)
            events = self._take()
        return events

    def _take(self) -> list[TrialEvent]:
        self._ready.clear()  # before taking: an event put meanwhile sets it again
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out
