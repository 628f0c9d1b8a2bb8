"""The hosts of a training job while their containers run: one container per host, their
logs pumped into one sink, their ends awaited together. One host failing, a stop or
MaxRuntime stops every host (SIGTERM, then SIGKILL after the grace)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from runner.backend import Backend, ExitStatus
from runner.clock import Clock
from runner.logpump import LogSink

POLL_SECONDS = 0.2
DRAIN_REPORT_SECONDS = 10.0
LOST = ExitStatus(code=-1, error="lost track of the container")


def network_name(job: str) -> str:
    """The name of the network a job of several hosts runs on (the backend scopes it)."""
    return f"smlocal-{job}"


@dataclass(frozen=True)
class Ended:
    statuses: dict[str, ExitStatus]  # host -> how its container ended
    failed_host: str | None  # the first host that ended non-zero before anything was stopped

    def first_failure(self, hosts: list[str]) -> str | None:
        """The host whose failure fails the job: the first to fail, else the first (in host
        order) that ended non-zero."""
        if self.failed_host is not None:
            return self.failed_host
        return next((h for h in hosts if h in self.statuses and self.statuses[h].code != 0), None)


class HostSupervisor:
    """Runs until every host's container ended."""

    def __init__(
        self, backend: Backend, clock: Clock, cids: dict[str, str], grace: float, stopping: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.backend = backend
        self.progress = progress
        self.clock = clock
        self.cids = cids
        self.grace = grace
        self.stopping = stopping  # a stop went out (before a resume, or during this run)
        self._kill_at: float | None = clock.now() + grace if stopping else None
        self._running = set(cids)

    def stop_all(self, now: float) -> None:
        """SIGTERM every host still running; SIGKILL those still running after the grace."""
        self.stopping = True
        for host in sorted(self._running):
            self.backend.signal(self.cids[host], "SIGTERM")
        self._kill_at = now + self.grace

    def run(self, sink: LogSink, since: float | None, tick: Callable[[float], bool]) -> Ended:
        """Pump logs into ``sink`` and wait for every container; ``tick(now)`` is asked at
        each poll while nothing is being stopped: True stops every host."""
        backend = self.backend
        pumps = [
            threading.Thread(target=sink.pump, args=(host, backend.logs(cid, s, since)), daemon=True)
            for host, cid in self.cids.items() for s in ("stdout", "stderr")
        ]
        for t in pumps:
            t.start()
        ends: queue.Queue[tuple[str, ExitStatus]] = queue.Queue()

        def waiter(host: str, cid: str) -> None:
            status = LOST
            try:
                status = backend.wait(cid)
            finally:
                ends.put((host, status))

        for host, cid in self.cids.items():
            threading.Thread(target=waiter, args=(host, cid), daemon=True).start()
        order: list[tuple[str, ExitStatus]] = []
        failed: str | None = None
        while self._running:
            try:
                host, status = ends.get(timeout=POLL_SECONDS)
            except queue.Empty:
                pass
            else:
                self._running.discard(host)
                order.append((host, status))
                if status.code != 0 and not self.stopping and failed is None:
                    failed = host  # one host failing fails the job: stop the others
                    self.stop_all(self.clock.now())
                continue
            sink.flush(wait=False)  # never waits on log processing: stops and timeouts go out
            now = self.clock.now()
            if not self.stopping and tick(now):
                self.stop_all(now)
            if self._kill_at is not None and now >= self._kill_at:
                for host in sorted(self._running):
                    backend.signal(self.cids[host], "SIGKILL")
                self._kill_at = None
        self._drain(pumps, sink)
        sink.flush()
        return Ended(dict(order), failed)

    def _drain(self, pumps: list[threading.Thread], sink: LogSink) -> None:
        """Wait for the log readers to take every line the containers wrote (the engine
        delivers them after the containers ended, at the readers' pace); none is dropped.
        A long wait is reported every DRAIN_REPORT_SECONDS."""
        report_at = self.clock.now() + DRAIN_REPORT_SECONDS
        for t in pumps:
            while t.is_alive():
                t.join(timeout=POLL_SECONDS)
                sink.flush(wait=False)
                now = self.clock.now()
                if now >= report_at and t.is_alive() and self.progress is not None:
                    self.progress(f"the containers ended; still storing their log ({sink.line_count:,} lines so far)")
                    report_at = now + DRAIN_REPORT_SECONDS
