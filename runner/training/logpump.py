"""Container output, as it streams: split into lines, credentials masked, scraped for
metrics, batched into the store, echoed, and handed on (CloudWatch) as it arrives. Memory
stays constant whatever the log's size."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable

from runner.contract.loglines import LineSplitter
from runner.contract.metrics import MetricSample, MetricScraper
from runner.engines.base import LogChunk
from runner.store.base import StoreFull
from runner.store.jobs import Store

FLUSH_LINES = 2000
# A job's lines stop being stored with less free on the store's disk: room for the records
# and metrics still to come, and for SQLite's write-ahead log (up to ~4 MiB before a
# checkpoint, which then grows the database file by as much).
KEEP_FREE = 16 * 1024 * 1024
TAIL_LINES = 20

MetricListener = Callable[[MetricSample], None]
LineListener = Callable[[str, str, float, str], None]  # (host, stream, ts, line)


class LogSink:
    """Collects the lines of one job's containers; thread-safe (one pump thread per stream).

    Lines are taken in batches (what one read of a stream brought): masked, scraped and
    tailed under the sink's lock, then written to the store in batches of FLUSH_LINES,
    in the order they were taken.  :meth:`flush` with ``wait=False`` never waits for a pump:
    the supervisor's stop and timeout path does not depend on log processing.
    """

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
        max_lines: int | None = None,
    ) -> None:
        self._store = store
        self._max_lines = max_lines  # lines past it are scraped, tailed and shown, not stored
        self.unstored = 0
        self._job = job
        self._scraper = scraper
        self._echo = echo
        self._echo_flush: Callable[[], None] | None = getattr(echo, "flush", None)  # once a batch
        self._on_metric = on_metric
        self._after = after  # a resumed job: lines up to this time are in the store already
        self._redact = redact
        self._on_line = on_line
        self._lock = threading.Lock()  # the buffers, the scraper and the tails
        self._write_lock = threading.Lock()  # one batch written at a time, in order
        self._lines: list[tuple[str, str, float, str]] = []
        self._samples: list[tuple[str, float, float]] = []
        self.host_tails: dict[str, deque[str]] = {}  # the last lines of each host
        self.line_count = 0
        self.errors: list[str] = []  # streams that ended early for good (host, stream: why)
        self.last_ts: dict[tuple[str, str], float] = {}  # (host, stream) -> its last line's time
        self.store_full: str | None = None  # why lines stopped being stored, when they did
        self.unstored_full = 0  # lines not stored for it
        self.held_metrics: dict[str, tuple[float, float]] = {}  # name -> last (ts, value) held
        self._metrics_full = False

    def notes(self, max_log_lines: int) -> list[str]:
        """What the job's end says about lines it lost or did not store (``max_log_lines``:
        the job's Local.MaxLogLines)."""
        out = [f"a log stream ended early ({error}); lines after that point are missing"
               for error in self.errors]
        if self.store_full:
            out.append(f"{self.store_full}: {self.unstored_full:,} log lines were scraped for "
                       "metrics and shown, not stored")
        if self.unstored:
            out.append(f"{self.unstored:,} lines past Local.MaxLogLines ({max_log_lines:,}) "
                       "were scraped for metrics, not stored")
        return out

    def pump(
        self, host: str, chunks: Iterable[LogChunk | list[LogChunk]], after: float | None = None
    ) -> str | None:
        """Drain one stream (run in its own thread) until the container ends; chunks at or
        before ``after`` (else the sink's own ``after``) are had already.  ``chunks`` yields
        chunks or lists of chunks (one read of the stream), taken a list at a time.  Returns
        the error that ended the stream early (the engine went away), never raises it; the
        stream's last time is kept in :attr:`last_ts`."""
        splitter = LineSplitter()
        stream = "stdout"
        ts = 0.0
        after = self._after if after is None else after
        error: str | None = None
        try:
            for item in chunks:
                entries: list[tuple[str, str, float, str]] = []
                for chunk in item if isinstance(item, list) else (item,):
                    if after is not None and chunk.ts <= after:
                        continue
                    stream, ts = chunk.stream, chunk.ts
                    for line in splitter.feed(chunk.data):
                        entries.append((host, stream, ts, line))
                if entries:
                    self.add_entries(entries)
                    self.last_ts[(host, stream)] = ts
        except Exception as exc:  # the engine went away, the connection broke
            error = f"{type(exc).__name__}: {exc}"
        rest = splitter.flush()
        if rest:
            self.add_lines(host, stream, ts, rest)
        return error

    def note_error(self, error: str) -> None:
        """A stream that ended early for good: lines after that point are missing."""
        with self._lock:
            self.errors.append(error)

    def add(self, host: str, stream: str, ts: float, line: str) -> None:
        self.add_entries([(host, stream, ts, line)])

    def add_lines(self, host: str, stream: str, ts: float, lines: list[str]) -> None:
        """Take lines of one stream that arrived at ``ts``."""
        self.add_entries([(host, stream, ts, line) for line in lines])

    def add_entries(self, entries: list[tuple[str, str, float, str]]) -> None:
        """Take ``(host, stream, ts, line)`` entries, in the order they arrived."""
        redact = self._redact
        if redact is not None:
            entries = [(h, s, t, redact(line)) for h, s, t, line in entries]
        lines = [entry[3] for entry in entries]
        batch: tuple[list[tuple[str, str, float, str]], list[tuple[str, float, float]]] | None = (
            None)
        with self._lock:
            room = len(entries) if self._max_lines is None else self._max_lines - self.line_count
            if room >= len(entries):
                self._lines += entries
            else:
                self._lines += entries[:max(room, 0)]
                self.unstored += len(entries) - max(room, 0)
            for host in {entry[0] for entry in entries}:
                tail = self.host_tails.get(host)
                if tail is None:
                    tail = self.host_tails[host] = deque(maxlen=TAIL_LINES)
                tail.extend(e[3] for e in entries[-TAIL_LINES:] if e[0] == host)
            self.line_count += len(entries)
            new = self._scraper.feed_lines(lines, [entry[2] for entry in entries])
            for sample in new:
                self._samples.append((sample.name, sample.value, sample.timestamp))
            if len(self._lines) >= FLUSH_LINES:
                batch = self._take_locked()
                self._write_lock.acquire()
        if batch is not None:
            self._write(*batch)
        if self._echo is not None:
            for host, stream, _, line in entries:
                self._echo(host, stream, line)
            if self._echo_flush is not None:
                self._echo_flush()
        if self._on_line is not None:
            for host, stream, ts, line in entries:
                self._on_line(host, stream, ts, line)
        if self._on_metric is not None:
            for sample in new:
                self._on_metric(sample)

    def flush(self, wait: bool = True) -> None:
        """Write what is buffered; with ``wait=False``, only when no pump holds the sink."""
        if not self._lock.acquire(blocking=wait):
            return
        try:
            lines, samples = self._take_locked()
            self._write_lock.acquire()
        finally:
            self._lock.release()
        self._write(lines, samples)

    def _take_locked(
        self
    ) -> tuple[list[tuple[str, str, float, str]], list[tuple[str, float, float]]]:
        lines, samples = self._lines, self._samples
        self._lines, self._samples = [], []
        return lines, samples

    def _write(
        self, lines: list[tuple[str, str, float, str]], samples: list[tuple[str, float, float]]
    ) -> None:
        """Store a batch; the caller holds the write lock, released here. Once the store's
        disk is full, or has less than KEEP_FREE left (the room the job's records and metrics
        need), lines are counted, not stored, and each metric's last sample a full disk did not
        take is held here (the job goes on: its log is what it cannot keep, not its result)."""
        try:
            if lines and self.store_full is None and self._store.free_bytes() < KEEP_FREE:
                self.store_full = StoreFull(self._store.home, nearly=True).args[0]
            if lines and self.store_full is None:
                try:
                    self._store.add_logs(self._job, lines)
                    lines = []
                except StoreFull as exc:
                    self.store_full = str(exc)
            self.unstored_full += len(lines)
            if samples and not self._metrics_full:  # (the room kept free is for them too)
                try:
                    self._store.add_metrics(self._job, samples)
                    samples = []
                except StoreFull as exc:
                    self.store_full, self._metrics_full = self.store_full or str(exc), True
            for name, value, ts in samples:
                self.held_metrics[name] = (ts, value)
        finally:
            self._write_lock.release()


def both_listeners(first: MetricListener | None, second: MetricListener) -> MetricListener:
    """A listener that calls ``first`` (when there is one), then ``second``."""
    if first is None:
        return second

    def both(sample: MetricSample) -> None:
        first(sample)
        second(sample)

    return both
