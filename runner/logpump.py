"""Container output, as it streams: split into lines, credentials masked, scraped for
metrics, batched into the store, echoed, and handed on (CloudWatch) as it arrives. Memory
stays constant whatever the log's size."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable

from runner.backend import LogChunk
from runner.loglines import LineSplitter
from runner.metrics import MetricSample, MetricScraper
from runner.store import Store

FLUSH_LINES = 2000
TAIL_LINES = 20

MetricListener = Callable[[MetricSample], None]
LineListener = Callable[[str, str, float, str], None]  # (host, stream, ts, line)


class LogSink:
    """Collects the lines of one job's containers; thread-safe (one pump thread per stream)."""

    def __init__(
        self,
        store: Store,
        job: str,
        scraper: MetricScraper,
        echo: Callable[[str, str, str], None] | None = None,
        on_metric: MetricListener | None = None,
        after: float | None = None,
        redact: Callable[[str], str] | None = None,
        on_line: LineListener | None = None,
    ) -> None:
        self._store = store
        self._job = job
        self._scraper = scraper
        self._echo = echo
        self._on_metric = on_metric
        self._after = after  # a resumed job: lines up to this time are in the store already
        self._redact = redact
        self._on_line = on_line
        self._lock = threading.Lock()
        self._lines: list[tuple[str, str, float, str]] = []
        self._samples: list[tuple[str, float, float]] = []
        self.host_tails: dict[str, deque[str]] = {}  # the last lines of each host
        self.line_count = 0

    def pump(self, host: str, chunks: Iterable[LogChunk]) -> None:
        """Drain one stream (run in its own thread) until the container ends."""
        splitter = LineSplitter()
        stream = "stdout"
        ts = 0.0
        for chunk in chunks:
            if self._after is not None and chunk.ts <= self._after:
                continue
            stream, ts = chunk.stream, chunk.ts
            for line in splitter.feed(chunk.data):
                self.add(host, stream, ts, line)
        for line in splitter.flush():
            self.add(host, stream, ts, line)

    def add(self, host: str, stream: str, ts: float, line: str) -> None:
        if self._redact is not None:
            line = self._redact(line)
        new: list[MetricSample] = []
        with self._lock:
            self._lines.append((host, stream, ts, line))
            tail = self.host_tails.get(host)
            if tail is None:  # not setdefault: that would build a deque for every line
                tail = self.host_tails[host] = deque(maxlen=TAIL_LINES)
            tail.append(line)
            self.line_count += 1
            for sample in self._scraper.feed(line, ts):
                self._samples.append((sample.name, sample.value, sample.timestamp))
                new.append(sample)
            if len(self._lines) >= FLUSH_LINES:
                self._flush_locked()
        if self._echo is not None:
            self._echo(host, stream, line)
        if self._on_line is not None:
            self._on_line(host, stream, ts, line)
        if self._on_metric is not None:
            for sample in new:
                self._on_metric(sample)

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._lines:
            self._store.add_logs(self._job, self._lines)
            self._lines = []
        if self._samples:
            self._store.add_metrics(self._job, self._samples)
            self._samples = []


def with_log_tail(head: str, tail: list[str], limit: int, line_limit: int = 200) -> str:
    """``head`` and as many of the last log lines as fit in ``limit`` characters."""
    text = head[:limit]
    kept: list[str] = []
    room = limit - len(text) - len(" Last log lines:")
    for line in reversed(tail):
        line = line if len(line) <= line_limit else line[: line_limit - 3] + "..."
        if len(line) + 1 > room:
            break
        kept.append(line)
        room -= len(line) + 1
    if kept:
        text += " Last log lines:\n" + "\n".join(reversed(kept))
    return text


def both_listeners(first: MetricListener | None, second: MetricListener) -> MetricListener:
    """A listener that calls ``first`` (when there is one), then ``second``."""
    if first is None:
        return second

    def both(sample: MetricSample) -> None:
        first(sample)
        second(sample)

    return both
