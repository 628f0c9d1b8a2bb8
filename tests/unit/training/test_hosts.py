"""The hosts of a job while they run (a fake backend, no Docker) and their containers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runner.contract.metrics import MetricScraper, compile_definitions
from runner.core.clock import SystemClock
from runner.core.specs import LocalOptions, Spec
from runner.engines.base import EngineLost, ExitStatus, JobNetwork, LogChunk, Mount
from runner.store.jobs import Store
from runner.training.container import container_spec
from runner.training.hosts import Ended, HostSupervisor, network_name
from runner.training.logpump import LogSink


class FakeBackend:
    """Containers that end when told (``end``) or when signalled (SIGTERM: 143)."""

    def __init__(self, ignore_term: bool = False) -> None:
        self.signals: list[tuple[str, str]] = []
        self.codes: dict[str, int] = {}
        self.events: dict[str, threading.Event] = {}
        self.ignore_term = ignore_term
        self.alive = True
        self.delivered: dict[str, list[str]] = {}  # cid -> signal numbers the engine delivered

    def engine_alive(self) -> bool:
        return self.alive

    def outside_signals(self, cid: str, since: float) -> list[str]:
        return list(self.delivered.get(cid, []))

    def engine_stops(self, cid: str, code: int = 0) -> None:
        """The engine shutting down: SIGTERM to the container, which exits ``code``."""
        self.delivered.setdefault(cid, []).append("15")
        self.end(cid, code)

    def add(self, cid: str) -> None:
        self.events[cid] = threading.Event()

    def end(self, cid: str, code: int) -> None:
        self.codes.setdefault(cid, code)
        self.events[cid].set()

    def logs(self, cid: str, stream: str, since: float | None = None) -> Iterator[LogChunk]:
        if stream == "stdout":
            yield LogChunk("stdout", 1.0, f"hello from {cid}\n".encode())

    def wait(self, cid: str) -> ExitStatus:
        self.events[cid].wait(10)
        return ExitStatus(self.codes.get(cid, -1))

    def signal(self, cid: str, signal: str) -> None:
        self.signals.append((cid, signal))
        self.delivered.setdefault(cid, []).append({"SIGTERM": "15", "SIGKILL": "9"}[signal])
        if signal == "SIGKILL" or not self.ignore_term:
            self.end(cid, 137 if signal == "SIGKILL" else 143)


def supervise(
    backend: FakeBackend, tmp_path: Path, grace: float = 5.0, tick: Any = None
) -> tuple[Ended, LogSink]:
    cids = {"algo-1": "c1", "algo-2": "c2"}
    for cid in cids.values():
        backend.add(cid)
    store = Store(tmp_path / "home")
    sink = LogSink(store, "job", MetricScraper([]))
    ended = HostSupervisor(backend, SystemClock(), cids, grace).run(  # type: ignore[arg-type]
        sink, None, tick or (lambda now: False)
    )
    store.close()
    return ended, sink


def test_one_host_failing_stops_the_others(tmp_path: Path) -> None:
    backend = FakeBackend()
    threading.Timer(0.1, backend.end, ("c2", 3)).start()
    ended, sink = supervise(backend, tmp_path)
    assert ended.failed_host == "algo-2"
    assert ended.statuses == {"algo-1": ExitStatus(143), "algo-2": ExitStatus(3)}
    assert backend.signals == [("c1", "SIGTERM")]
    assert ended.first_failure(["algo-1", "algo-2"]) == "algo-2"  # not algo-1, stopped after it
    assert list(sink.host_tails["algo-2"]) == ["hello from c2"]


def test_every_host_ending_well_is_no_failure(tmp_path: Path) -> None:
    backend = FakeBackend()
    threading.Timer(0.05, backend.end, ("c1", 0)).start()
    threading.Timer(0.3, backend.end, ("c2", 0)).start()
    ended, _ = supervise(backend, tmp_path)
    assert ended.failed_host is None and ended.first_failure(["algo-1", "algo-2"]) is None
    assert backend.signals == []  # a host done early does not stop the others


def test_a_stop_reaches_every_host_and_kills_after_the_grace(tmp_path: Path) -> None:
    backend = FakeBackend(ignore_term=True)
    ended, _ = supervise(backend, tmp_path, grace=0.3, tick=lambda now: True)
    assert (sorted(backend.signals) == [("c1", "SIGKILL"), ("c1", "SIGTERM"), ("c2", "SIGKILL"),
                                        ("c2", "SIGTERM")])
    assert ended.failed_host is None  # ended by our stop: not a host's failure
    assert {s.code for s in ended.statuses.values()} == {137}


class StuckScraper(MetricScraper):
    """A scraper stuck in a search until released (a regex that never ends)."""

    def __init__(self) -> None:
        super().__init__([])
        self.entered = threading.Event()
        self.release = threading.Event()

    def feed_lines(self, lines: list[str], timestamps: float | list[float]) -> list[Any]:
        self.entered.set()
        self.release.wait(20)
        return []


def test_a_stop_goes_out_while_the_log_processing_is_stuck(tmp_path: Path) -> None:
    backend = FakeBackend()
    backend.add("c1")
    store = Store(tmp_path / "home")
    scraper = StuckScraper()
    sink = LogSink(store, "job", scraper)
    asked: list[float] = []

    def tick(now: float) -> bool:
        asked.append(now)
        return scraper.entered.is_set()  # stop once the pump is stuck

    def release_later() -> None:
        for _ in range(200):
            if backend.signals:
                break
            threading.Event().wait(0.05)
        scraper.release.set()

    threading.Thread(target=release_later, daemon=True).start()
    ended = HostSupervisor(backend, SystemClock(), {"algo-1": "c1"}, 5.0).run(sink, None, tick)  # type: ignore[arg-type]
    assert backend.signals == [("c1", "SIGTERM")]  # sent while the scraper was still stuck
    assert ended.statuses == {"algo-1": ExitStatus(143)}
    assert [line.line for line in store.logs("job")] == ["hello from c1"]  # kept all the same
    store.close()


class SlowLogs(FakeBackend):
    """A container whose log the engine keeps delivering after it ended."""

    def logs(self, cid: str, stream: str, since: float | None = None) -> Iterator[LogChunk]:
        if stream != "stdout":
            return
        for i in range(5000):
            if i == 10:
                self.end(cid, 0)
            if i % 1000 == 999:
                threading.Event().wait(0.2)
            yield LogChunk("stdout", 1.0 + i, f"step {i} loss={i}\n".encode())


def test_no_line_is_dropped_after_the_container_ended(tmp_path: Path) -> None:
    backend = SlowLogs()
    backend.add("c1")
    store = Store(tmp_path / "home")
    defs, _ = compile_definitions([{"Name": "loss", "Regex": "loss=(\\S+)"}])
    scraper = MetricScraper(defs)
    sink = LogSink(store, "job", scraper)
    reports: list[str] = []
    supervisor = HostSupervisor(
        backend,  # type: ignore[arg-type]
        SystemClock(),
        {"algo-1": "c1"},
        5.0,
        progress=reports.append,
    )
    ended = supervisor.run(sink, None, lambda now: False)
    assert ended.statuses == {"algo-1": ExitStatus(0)}
    assert sink.line_count == 5000 and len(store.logs("job", limit=10_000)) == 5000
    last = scraper.last("loss")
    assert last is not None and last.value == 4999
    store.close()


class BrokenLogs(FakeBackend):
    def logs(self, cid: str, stream: str, since: float | None = None) -> Iterator[LogChunk]:
        yield LogChunk(stream, 1.0, b"first line\n")
        raise ConnectionError("Connection aborted.")


def test_a_log_stream_that_breaks_is_recorded_not_raised(tmp_path: Path) -> None:
    backend = BrokenLogs()
    threading.Timer(0.1, backend.end, ("c1", 0)).start()
    backend.add("c1")
    store = Store(tmp_path / "home")
    sink = LogSink(store, "job", MetricScraper([]))
    supervisor = HostSupervisor(backend, SystemClock(), {"algo-1": "c1"}, 5.0, engine_wait=1.5)  # type: ignore[arg-type]
    # read again while the engine answers, then given up
    supervisor.run(sink, None, lambda now: False)
    assert sorted(sink.errors) == [
        "algo-1 stderr: ConnectionError: Connection aborted.",
        "algo-1 stdout: ConnectionError: Connection aborted.",
    ]
    assert sink.line_count == 2
    store.close()


def test_an_engine_shutdown_that_stops_a_container_is_no_success(tmp_path: Path) -> None:
    backend = FakeBackend()
    threading.Timer(0.1, backend.engine_stops, ("c1", 0)).start()
    ended, _ = supervise(backend, tmp_path)
    status = ended.statuses["algo-1"]
    assert status.code == 0 and "was killed from outside smlocal (SIGTERM from" in status.outside
    assert ended.failed_host == "algo-1" and backend.signals == [("c2", "SIGTERM")]
    assert ended.statuses["algo-2"].outside == ""  # our own stop: not from outside


class EngineGone(FakeBackend):
    """The engine goes away while c1 runs: wait() fails until it is back (``back_after``
    seconds, or never); c1 ends meanwhile with ``code``."""

    def __init__(self, back_after: float | None, code: int = 0) -> None:
        super().__init__()
        self.back_after, self.code, self.waits = back_after, code, 0

    def wait(self, cid: str) -> ExitStatus:
        if cid == "c1" and self.waits == 0:
            self.waits += 1
            self.alive = False
            self.end(cid, self.code)
            if self.back_after is not None:
                threading.Timer(self.back_after, setattr, (self, "alive", True)).start()
            raise EngineLost("the Docker engine stopped answering (ConnectionError)")
        return super().wait(cid)


def test_a_container_that_ended_while_the_engine_was_away_fails_the_job(tmp_path: Path) -> None:
    backend = EngineGone(back_after=0.3)
    threading.Timer(0.5, backend.end, ("c2", 0)).start()
    cids = {"algo-1": "c1", "algo-2": "c2"}
    for cid in cids.values():
        backend.add(cid)
    store = Store(tmp_path / "home")
    supervisor = HostSupervisor(backend, SystemClock(), cids, 5.0)  # type: ignore[arg-type]
    ended = supervisor.run(LogSink(store, "job", MetricScraper([])), None, lambda now: False)
    assert (ended.statuses["algo-1"].outside
            == "the container ended while the Docker engine was away")
    assert supervisor.engine_lost and ended.failed_host == "algo-1"
    store.close()


def test_an_engine_that_never_comes_back_ends_the_wait(tmp_path: Path) -> None:
    backend = EngineGone(back_after=None)
    backend.add("c1")
    store = Store(tmp_path / "home")
    started = time.monotonic()
    supervisor = HostSupervisor(backend, SystemClock(), {"algo-1": "c1"}, 5.0, engine_wait=1.0)  # type: ignore[arg-type]
    ended = supervisor.run(LogSink(store, "job", MetricScraper([])), None, lambda now: False)
    assert time.monotonic() - started < 5
    assert ended.statuses["algo-1"].outside == (
        "the Docker engine went away while the job ran and did not come back within 1 s"
    )
    store.close()


def test_first_failure_without_a_first_failed_host() -> None:
    ended = Ended({"algo-2": ExitStatus(1), "algo-1": ExitStatus(2)}, None)
    assert ended.first_failure(["algo-1", "algo-2"]) == "algo-1"


class Folder:
    def mounts(self) -> list[Mount]:
        return [Mount("/ws/input", "/opt/ml/input")]


def request(isolated: bool) -> dict[str, Any]:
    return {
        "TrainingJobName": "j", "AlgorithmSpecification": {"TrainingImage": "img"},
        "ResourceConfig": {"InstanceType": "local", "InstanceCount": 2},
        "EnableNetworkIsolation": isolated,
    }


def test_a_host_of_several_joins_the_jobs_network_by_its_name(tmp_path: Path) -> None:
    spec = Spec(request=request(False), local=LocalOptions(), base_dir=tmp_path)
    net = JobNetwork("smlocal-j-abc", {"algo-1": "10.9.0.10", "algo-2": "10.9.0.11"})
    c = container_spec(spec.request, spec, Folder(), "algo-2", {}, {"AWS_REGION": "x"}, network=net)  # type: ignore[arg-type]
    assert ((c.hostname, c.network, c.network_aliases, c.network_isolation)
            == ("algo-2", "smlocal-j-abc", ["algo-2"], False))
    assert c.network_address == "10.9.0.11"
    assert c.extra_hosts == {"algo-1": "10.9.0.10"}  # resolves also once algo-1 ended
    assert c.environment["AWS_REGION"] == "x"
    assert c.labels["smlocal.host"] == "algo-2"


def test_isolated_hosts_keep_their_network_but_no_aws(tmp_path: Path) -> None:
    spec = Spec(request=request(True), local=LocalOptions(), base_dir=tmp_path)
    net = JobNetwork("n", {"algo-1": "10.9.0.10", "algo-2": "10.9.0.11"})
    c = container_spec(spec.request, spec, Folder(), "algo-1", {}, {"AWS_REGION": "x"}, network=net)  # type: ignore[arg-type]
    assert (c.network, c.network_isolation, c.extra_hosts) == ("n", False, {"algo-2": "10.9.0.11"})
    assert "AWS_REGION" not in c.environment
    single = container_spec(spec.request, spec, Folder(), "algo-1", {}, {})  # type: ignore[arg-type]
    assert ((single.network, single.network_isolation, single.extra_hosts)
            == (None, True, {"algo-1": "127.0.0.1"}))


def test_network_name() -> None:
    assert network_name("job-1") == "smlocal-job-1"


def test_a_host_gets_its_share_of_the_gpus_on_a_gpu_instance_type(tmp_path: Path) -> None:
    req = request(False)
    req["ResourceConfig"]["InstanceType"] = "ml.g5.12xlarge"
    spec = Spec(request=req, local=LocalOptions(gpus="0,1,2,3"), base_dir=tmp_path)
    assert container_spec(req, spec, Folder(), "algo-2", {}, gpus="2,3").gpus == "2,3"  # type: ignore[arg-type]
    assert container_spec(req, spec, Folder(), "algo-1", {}).gpus == "0,1,2,3"  # type: ignore[arg-type]
    cpu = Spec(request=request(False), local=LocalOptions(gpus="0"), base_dir=tmp_path)
    assert container_spec(cpu.request, cpu, Folder(), "algo-1", {}, gpus="0").gpus is None  # type: ignore[arg-type]


def test_lines_past_the_cap_are_scraped_and_shown_not_stored(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    defs, _ = compile_definitions([{"Name": "loss", "Regex": "loss=(\\S+)"}])
    shown: list[str] = []
    sink = LogSink(store, "job", MetricScraper(defs), echo=lambda h, s, line: shown.append(line),
                   max_lines=3)
    sink.add_lines("algo-1", "stdout", 1.0, ["loss=1", "loss=2"])
    sink.add_lines("algo-1", "stdout", 2.0, ["loss=3", "loss=4", "loss=5"])
    sink.flush()
    assert [entry.line for entry in store.logs("job")] == ["loss=1", "loss=2", "loss=3"]
    assert sink.unstored == 2 and len(shown) == 5
    assert [v for _, v in store.metric_series("job")["loss"]] == [1, 2, 3, 4, 5]
    store.close()


class SteppedClock(SystemClock):
    """The system's clocks, with the wall clock stepped by ``offset`` (an NTP step)."""

    offset = 0.0

    def now(self) -> float:
        return super().now() + self.offset


def test_the_grace_before_sigkill_is_monotonic_time(tmp_path: Path) -> None:
    """A stop, then the wall clock stepped an hour back: SIGKILL still comes after the grace
    (on the wall clock it would have come an hour late)."""
    backend = FakeBackend(ignore_term=True)
    backend.add("c1")
    clock = SteppedClock()
    store = Store(tmp_path / "home")

    def tick(now: float) -> bool:
        clock.offset = -3600.0
        return True

    started = time.monotonic()
    ended = HostSupervisor(backend, clock, {"algo-1": "c1"}, 0.3).run(  # type: ignore[arg-type]
        LogSink(store, "job", MetricScraper([])), None, tick)
    assert backend.signals == [("c1", "SIGTERM"), ("c1", "SIGKILL")]
    assert ended.statuses["algo-1"] == ExitStatus(137)
    assert time.monotonic() - started < 5
    store.close()
