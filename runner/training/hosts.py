"""The hosts of a training job while their containers run: one container per host, their
logs pumped into one sink, their ends awaited together. One host failing, a stop or
MaxRuntime stops every host (SIGTERM, then SIGKILL after the grace).

The engine may go away meanwhile (restarted, crashed): every thread that talks to it waits for
it to answer again, at most ``engine_wait`` seconds from the first loss, then carries on where
it was (a container that lived through it is followed again, a log stream is read on from its
last line). A container ended by something other than its algorithm or smlocal (the engine's
shutdown sends it SIGTERM, ``docker stop``, the engine gone for good) gets an
``ExitStatus.outside`` saying what: SageMaker never reports such a job Completed."""

from __future__ import annotations

import queue
import signal as signals
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from runner.core.clock import Clock
from runner.engines.base import Backend, BackendError, EngineLost, ExitStatus
from runner.training.logpump import LogSink

POLL_SECONDS = 0.2
DRAIN_REPORT_SECONDS = 10.0
ENGINE_POLL_SECONDS = 1.0


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
        return next((h for h in hosts if h in self.statuses and failed(self.statuses[h])), None)


def failed(status: ExitStatus) -> bool:
    """Whether a container's end fails the job (a non-zero exit, or ended from outside)."""
    return status.code != 0 or bool(status.outside)


class HostSupervisor:
    """Runs until every host's container ended."""

    def __init__(
        self, backend: Backend, clock: Clock, cids: dict[str, str], grace: float,
        stopping: bool = False,
        progress: Callable[[str], None] | None = None, engine_wait: float = 60.0,
    ) -> None:
        self.backend = backend
        self.progress = progress
        self.clock = clock
        self.cids = cids
        self.grace = grace
        self.engine_wait = engine_wait
        self.stopping = stopping  # a stop went out (before a resume, or during this run)
        # (monotonic: a step of the wall clock neither hastens nor delays a SIGKILL)
        self._kill_at: float | None = clock.monotonic() + grace if stopping else None
        self._running = set(cids)
        self._sent: dict[str, list[str]] = {cid: [] for cid in cids.values()}  # signal numbers
        self._since = clock.now() - 1.0  # the engine's events about these containers from here
        self._lock = threading.Lock()
        self._lost_at: float | None = None  # when the engine was first seen gone (monotonic)
        self._ended = threading.Event()  # set when a host's end is put in the queue

    @property
    def engine_lost(self) -> bool:
        """Whether the engine was seen gone while the hosts ran."""
        return self._lost_at is not None

    def stop_all(self) -> None:
        """SIGTERM every host still running; SIGKILL those still running after the grace."""
        self.stopping = True
        for host in sorted(self._running):
            self._signal(host, "SIGTERM")
        self._kill_at = self.clock.monotonic() + self.grace

    def _signal(self, host: str, name: str) -> None:
        cid = self.cids[host]
        with self._lock:
            self._sent[cid].append(str(int(signals.Signals[name])))
        try:
            self.backend.signal(cid, name)
        except EngineLost:
            pass  # its waiter finds out how it ended once the engine is back

    def run(self, sink: LogSink, since: float | None, tick: Callable[[float], bool]) -> Ended:
        """Pump logs into ``sink`` and wait for every container; ``tick(now)`` is asked at
        each poll while nothing is being stopped (``now`` on the clock's monotonic time, which
        a step of the wall clock does not move): True stops every host."""
        pumps = [
            threading.Thread(target=self._pump, args=(sink, host, cid, s, since), daemon=True)
            for host, cid in self.cids.items() for s in ("stdout", "stderr")
        ]
        for t in pumps:
            t.start()
        ends: queue.Queue[tuple[str, ExitStatus]] = queue.Queue()
        for host, cid in self.cids.items():
            threading.Thread(target=self._waiter, args=(host, cid, ends), daemon=True).start()
        order: list[tuple[str, ExitStatus]] = []
        failed_host: str | None = None
        while self._running:
            try:
                host, status = self._next_end(ends)
            except queue.Empty:
                pass
            else:
                self._running.discard(host)
                order.append((host, status))
                if failed(status) and not self.stopping and failed_host is None:
                    failed_host = host  # one host failing fails the job: stop the others
                    self.stop_all()
                continue
            sink.flush(wait=False)  # never waits on log processing: stops and timeouts go out
            now = self.clock.monotonic()
            if not self.stopping and tick(now):
                self.stop_all()
            if self._kill_at is not None and now >= self._kill_at:
                for host in sorted(self._running):
                    self._signal(host, "SIGKILL")
                self._kill_at = None
        self._drain(pumps, sink)
        sink.flush()
        return Ended(dict(order), failed_host)

    def _next_end(self, ends: queue.Queue[tuple[str, ExitStatus]]) -> tuple[str, ExitStatus]:
        """The next host's end, waiting at most POLL_SECONDS on the clock; queue.Empty when
        none came."""
        self._ended.clear()  # before looking: an end put meanwhile sets it again
        try:
            return ends.get_nowait()
        except queue.Empty:
            self.clock.wait(self._ended, POLL_SECONDS)
        return ends.get_nowait()

    # -- the engine going away ---------------------------------------------------------------
    def engine_back(self) -> bool:
        """Whether the engine answers, waiting for it (at most ``engine_wait`` seconds from
        the first time it was seen gone) when it does not."""
        if self.backend.engine_alive():
            return True
        with self._lock:
            if self._lost_at is None:
                self._lost_at = self.clock.monotonic()
            deadline = self._lost_at + self.engine_wait
        pause = threading.Event()
        while self.clock.monotonic() < deadline:
            self.clock.wait(pause, ENGINE_POLL_SECONDS)
            if self.backend.engine_alive():
                return True
        return False

    def _waiter(self, host: str, cid: str, ends: queue.Queue[tuple[str, ExitStatus]]) -> None:
        status = ExitStatus(-1, outside="smlocal lost track of the container")
        lost_meanwhile = False
        try:
            while True:
                try:
                    status = self.backend.wait(cid)
                    break
                except EngineLost:
                    lost_meanwhile = True
                    if not self.engine_back():
                        status = ExitStatus(-1, outside=(
                            f"the Docker engine went away while the job ran and did not come back "
                            f"within {self.engine_wait:g} s"))
                        return
            status = self._classify(cid, status, lost_meanwhile)
        except BackendError as exc:  # the container is gone
            status = ExitStatus(-1, outside=f"{exc}")
        except Exception as exc:  # never a traceback from this thread
            status = ExitStatus(
                -1, outside=f"smlocal lost track of the container ({type(exc).__name__}: {exc})")
        finally:
            ends.put((host, status))
            self._ended.set()

    def _classify(self, cid: str, status: ExitStatus, lost_meanwhile: bool) -> ExitStatus:
        """``status`` with ``outside`` set when the engine, not the algorithm nor smlocal,
        ended the container: a signal smlocal did not send, or an end while the engine was
        away."""
        try:
            delivered = self.backend.outside_signals(cid, self._since)
        except EngineLost:
            delivered, lost_meanwhile = [], True
        with self._lock:
            ours = list(self._sent[cid])
        theirs = []
        for number in delivered:
            if number in ours:
                ours.remove(number)
            else:
                theirs.append(number)
        if theirs:
            name = _signal_name(theirs[0])
            return replace(status, outside=(
                f"the container was killed from outside smlocal ({name} from the Docker engine: "
                f"docker stop or kill, or the engine shutting down)"))
        if lost_meanwhile and not ours:
            return replace(status, outside="the container ended while the Docker engine was away")
        return status

    def _pump(self, sink: LogSink, host: str, cid: str, stream: str, since: float | None) -> None:
        """One stream of one host into the sink; read on from its last line when it broke
        and the engine came back."""
        after = since
        deadline: float | None = None
        pause = threading.Event()
        while True:
            error = sink.pump(host, self.backend.logs(cid, stream, after), after=after)
            if error is None:
                return
            now = self.clock.monotonic()
            deadline = now + self.engine_wait if deadline is None else deadline
            if now >= deadline:
                break
            self.clock.wait(pause, ENGINE_POLL_SECONDS)  # an engine shutting down answers a moment
            if not self.engine_back():
                break
            after = sink.last_ts.get((host, stream), after)
        sink.note_error(f"{host} {stream}: {error}")

    def _drain(self, pumps: list[threading.Thread], sink: LogSink) -> None:
        """Wait for the log readers to take every line the containers wrote (the engine
        delivers them after the containers ended, at the readers' pace); none is dropped.
        A long wait is reported every DRAIN_REPORT_SECONDS."""
        report_at = self.clock.monotonic() + DRAIN_REPORT_SECONDS
        for t in pumps:
            while t.is_alive():
                t.join(timeout=POLL_SECONDS)
                sink.flush(wait=False)
                now = self.clock.monotonic()
                if now >= report_at and t.is_alive() and self.progress is not None:
                    self.progress("the containers ended; still storing their log "
                                  f"({sink.line_count:,} lines so far)")
                    report_at = now + DRAIN_REPORT_SECONDS


def _signal_name(number: str) -> str:
    try:
        return signals.Signals(int(number)).name
    except ValueError:
        return f"signal {number}"
