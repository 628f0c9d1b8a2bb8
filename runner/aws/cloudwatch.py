"""CloudWatch, where SageMaker leaves a training job's logs and metrics.

Logs: group ``/aws/sagemaker/TrainingJobs``, stream ``<job>/algo-<n>-<epoch seconds>``, one
event per line (a tab written ``#011`` as the service's shipping does; a line longer than an
event may be is split). PutLogEvents batches keep to AWS's limits: at most 10,000 events and
1,048,576 bytes (each event's UTF-8 message plus 26 bytes), events in time order, no batch
spanning more than 24 hours, no event over 256 KiB.

Metrics: PutMetricData in namespace ``/aws/sagemaker/TrainingJobs``, at most 1,000 data a
call. The batching is pure (``log_batches``, ``metric_batches``); the shippers are threads
around an injected client that send as lines arrive and flush at the end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runner.aws.clients import error_message
from runner.contract.metrics import TAB_ESCAPE

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
NAMESPACE = "/aws/sagemaker/TrainingJobs"
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_EVENT_BYTES = 256 * 1024
MAX_BATCH_SPAN_MS = 24 * 3600 * 1000
MAX_METRIC_DATA = 1000
MAX_METRIC_BYTES = 900_000  # under the 1 MB request limit, with room for the envelope

LogEvent = tuple[int, str]  # (epoch milliseconds, message)


def log_stream_name(job: str, host: str, started: float) -> str:
    return f"{job}/{host}-{int(started)}"


def line_events(ts: float, line: str) -> list[LogEvent]:
    """A log line as CloudWatch events: tabs escaped, empty lines dropped (CloudWatch stores
    no empty message), long lines split at UTF-8 character boundaries."""
    text = line.replace("\t", TAB_ESCAPE)
    if not text:
        return []
    ms = int(ts * 1000)
    data = text.encode("utf-8")
    limit = MAX_EVENT_BYTES - EVENT_OVERHEAD
    if len(data) <= limit:
        return [(ms, text)]
    events = []
    start = 0
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # not inside a character
            end -= 1
        events.append((ms, data[start:end].decode("utf-8", errors="replace")))
        start = end
    return events


def log_batches(events: Iterable[LogEvent]) -> Iterator[list[dict[str, Any]]]:
    """PutLogEvents batches of ``events`` (sorted by time here, keeping the order of equal
    times), each within every limit."""
    batch: list[dict[str, Any]] = []
    size = 0
    first = 0
    for ms, message in sorted(events, key=lambda e: e[0]):
        cost = len(message.encode("utf-8")) + EVENT_OVERHEAD
        if (batch and (len(batch) >= MAX_BATCH_EVENTS or size + cost > MAX_BATCH_BYTES
                       or ms - first > MAX_BATCH_SPAN_MS)):
            yield batch
            batch, size = [], 0
        if not batch:
            first = ms
        batch.append({"timestamp": ms, "message": message})
        size += cost
    if batch:
        yield batch


@dataclass(frozen=True)
class Datum:
    name: str
    value: float
    timestamp: float
    dimensions: tuple[tuple[str, str], ...]
    unit: str = "None"

    def to_api(self) -> dict[str, Any]:
        return {
            "MetricName": self.name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions],
            "Timestamp": datetime.fromtimestamp(self.timestamp, UTC),
            "Value": self.value,
            "Unit": self.unit,
        }

    def cost(self) -> int:
        return 120 + len(self.name) + sum(len(k) + len(v) + 40 for k, v in self.dimensions)


def metric_batches(data: Sequence[Datum]) -> Iterator[list[Datum]]:
    batch: list[Datum] = []
    size = 0
    for datum in data:
        if batch and (len(batch) >= MAX_METRIC_DATA or size + datum.cost() > MAX_METRIC_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(datum)
        size += datum.cost()
    if batch:
        yield batch


class _Shipper:
    """A thread sending what ``_queue`` collects every ``interval`` seconds, or sooner when
    ``batch_size`` items wait; ``add`` waits (backpressure) when ``max_pending`` wait."""

    def __init__(
        self, name: str, interval: float, batch_size: int, max_pending: int,
        warn: Callable[[str], None] | None
    ) -> None:
        self._interval = interval
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._warn = warn
        self._pending: list[Any] = []
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.errors: list[str] = []
        self.calls = 0

    def start(self) -> None:
        self._thread.start()

    def _put(self, items: Sequence[Any]) -> None:
        with self._cond:
            while (len(self._pending) >= self._max_pending and not self._closing
                   and self._thread.is_alive()):
                self._cond.wait(0.5)
            self._pending.extend(items)
            if len(self._pending) >= self._batch_size:
                self._cond.notify_all()

    def close(self, timeout: float = 120.0) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._closing and len(self._pending) < self._batch_size:
                    self._cond.wait(self._interval)
                items, self._pending = self._pending, []
                closing = self._closing
                self._cond.notify_all()
            if items:
                try:
                    self._send(items)
                except Exception as exc:  # keep shipping what comes next
                    message = error_message(exc)
                    self.errors.append(message)
                    if self._warn is not None and len(self.errors) <= 3:
                        self._warn(message)
            if closing:
                with self._cond:
                    if not self._pending:
                        return

    def _send(self, items: list[Any]) -> None:
        raise NotImplementedError


class LogShipper(_Shipper):
    """One log stream's events, shipped as they arrive."""

    def __init__(self, client: Any, stream: str, group: str = LOG_GROUP, interval: float = 1.0,
                 warn: Callable[[str], None] | None = None) -> None:
        super().__init__("cloudwatch-logs", interval, MAX_BATCH_EVENTS, 5 * MAX_BATCH_EVENTS, warn)
        self._client = client
        self.group = group
        self.stream = stream
        self.events_sent = 0

    def start(self) -> None:
        for call, kwargs in (
            (self._client.create_log_group, {"logGroupName": self.group}),
            (self._client.create_log_stream,
             {"logGroupName": self.group, "logStreamName": self.stream}),
        ):
            try:
                call(**kwargs)
            except Exception as exc:
                if "ResourceAlreadyExists" not in error_message(exc):
                    raise
        super().start()

    def add(self, ts: float, line: str) -> None:
        events = line_events(ts, line)
        if events:
            self._put(events)

    def _send(self, items: list[Any]) -> None:
        for batch in log_batches(items):
            self._client.put_log_events(logGroupName=self.group, logStreamName=self.stream,
                                        logEvents=batch)
            self.calls += 1
            self.events_sent += len(batch)


class MetricPublisher(_Shipper):
    """Metric data, published as they arrive."""

    def __init__(self, client: Any, namespace: str = NAMESPACE, interval: float = 1.0,
                 warn: Callable[[str], None] | None = None) -> None:
        super().__init__("cloudwatch-metrics", interval, MAX_METRIC_DATA, 20 * MAX_METRIC_DATA,
                         warn)
        self._client = client
        self.namespace = namespace
        self.data_sent = 0

    def add(self, datum: Datum) -> None:
        self._put([datum])

    def _send(self, items: list[Any]) -> None:
        for batch in metric_batches(items):
            self._client.put_metric_data(Namespace=self.namespace,
                                         MetricData=[d.to_api() for d in batch])
            self.calls += 1
            self.data_sent += len(batch)


def job_streams(client: Any, job: str, group: str = LOG_GROUP) -> list[str]:
    """The job's log streams (``<job>/algo-...``), in name order."""
    names: list[str] = []
    kwargs: dict[str, Any] = {"logGroupName": group, "logStreamNamePrefix": f"{job}/"}
    while True:
        page = client.describe_log_streams(**kwargs)
        names += [s["logStreamName"] for s in page.get("logStreams", [])]
        token = page.get("nextToken")
        if not token:
            return sorted(names)
        kwargs["nextToken"] = token


def read_stream(client: Any, stream: str, group: str = LOG_GROUP) -> Iterator[tuple[int, str]]:
    """Every event of a stream, oldest first: (epoch milliseconds, message)."""
    kwargs: dict[str, Any] = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
    while True:
        page = client.get_log_events(**kwargs)
        for event in page.get("events", []):
            yield int(event["timestamp"]), str(event["message"])
        token = page.get("nextForwardToken")
        if not page.get("events") or not token or token == kwargs.get("nextToken"):
            return
        kwargs["nextToken"] = token


def print_job_logs(
    client: Any, job: str, out: Callable[[str], Any], err: Callable[[str], Any],
    group: str = LOG_GROUP
) -> bool:
    """``smlocal logs NAME --cloudwatch``: every event of the job's streams, stream after
    stream; False (and a message on ``err``) when the job has none or CloudWatch says no."""
    try:
        streams = job_streams(client, job, group)
        if not streams:
            err(f"smlocal: no log stream {group}/{job}/... in CloudWatch\n")
            return False
        for stream in streams:
            for _ts, message in read_stream(client, stream, group):
                out(message + "\n")
    except Exception as exc:
        err(f"smlocal: cannot read the logs of {job} from CloudWatch: {error_message(exc)}\n")
        return False
    return True
