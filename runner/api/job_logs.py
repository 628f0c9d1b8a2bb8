"""A training job's log, read back as CloudWatch Logs serves SageMaker's: group
``/aws/sagemaker/TrainingJobs``, a stream ``<job>/<host>-<epoch seconds>`` for each host that
wrote lines, one event per line (DescribeLogStreams, GetLogEvents, FilterLogEvents), from the
store, so the SDK's ``fit(logs=True)`` and ``logs_for_job`` follow a job that runs here.

Events come in time order (as CloudWatch keeps them; a stream's lines are stored as they
arrive, stdout and stderr interleaved). Tokens are opaque to the caller: ``f/<time>/<line>``
reads on after a line; a read with nothing new hands back the token it was given, as
CloudWatch does (the SDK stops reading there).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from runner.api.errors import ResourceNotFound, ValidationException
from runner.aws.cloudwatch import LOG_GROUP, line_events, log_stream_name
from runner.core.problems import Problem
from runner.store.jobs import LogLine, Store
from runner.training.context import training_started

MAX_EVENTS = 10_000  # a GetLogEvents answer's most, as CloudWatch's
OUR_HOST = "smlocal"  # lines smlocal itself wrote into a job's log: no instance's stream


class LogResourceNotFound(ResourceNotFound):
    """CloudWatch Logs' own name for it."""

    code = "ResourceNotFoundException"


class InvalidParameter(ValidationException):
    """CloudWatch Logs' name for a bad parameter."""

    code = "InvalidParameterException"


class Stream(NamedTuple):
    """One host's log stream of a job: its name and first and last line's times."""

    name: str
    job: str
    host: str
    first: float
    last: float


class JobLogs:
    def __init__(self, store: Store) -> None:
        self.store = store

    def describe_log_streams(self, logGroupName: str | None = None,  # noqa: N803
                             logStreamNamePrefix: str = "", descending: bool = False,  # noqa: N803
                             limit: int = 50, logGroupIdentifier: str | None = None,  # noqa: N803
                             **_: Any) -> dict[str, Any]:
        """The streams whose names start with ``logStreamNamePrefix`` (``<job>/``), by name."""
        _group(logGroupName, logGroupIdentifier)
        streams: list[dict[str, Any]] = [
            {"logStreamName": s.name, "creationTime": int(s.first * 1000),
             "firstEventTimestamp": int(s.first * 1000), "lastEventTimestamp": int(s.last * 1000),
             "lastIngestionTime": int(s.last * 1000), "storedBytes": 0}
            for s in self._streams(logStreamNamePrefix)]
        streams.sort(key=lambda s: s["logStreamName"], reverse=descending)
        return {"logStreams": streams[:limit]}

    def filter_log_events(  # noqa: N803 (CloudWatch Logs' parameter names)
        self, logGroupName: str | None = None,  # noqa: N803
        logStreamNames: list[str] | None = None,  # noqa: N803
        logStreamNamePrefix: str | None = None, startTime: int | None = None,  # noqa: N803
        endTime: int | None = None, filterPattern: str = "",  # noqa: N803
        nextToken: str | None = None, limit: int = MAX_EVENTS,  # noqa: N803
        logGroupIdentifier: str | None = None, **_: Any  # noqa: N803
    ) -> dict[str, Any]:
        """The events of the group's streams (those named, or with the prefix) from
        ``startTime`` to ``endTime`` (epoch ms, both included) that ``filterPattern`` matches,
        in time order over all streams (ties: by stream, then as stored). A token is the
        position of the last event handed out, so lines stored between two pages never
        shift the next one."""
        _group(logGroupName, logGroupIdentifier)
        if logStreamNames and logStreamNamePrefix:
            raise InvalidParameter([Problem("logStreamNamePrefix", (
                "cannot be given together with logStreamNames"))])
        matches = filter_pattern(filterPattern)
        if logStreamNames:
            streams = [s for s in self._streams_of({n.partition("/")[0] for n in logStreamNames})
                       if s.name in logStreamNames]
        else:
            streams = self._streams(logStreamNamePrefix or "")
        after = _page(nextToken)
        found: list[tuple[tuple[int, str, int, int], dict[str, Any]]] = []
        for stream in streams:
            for line in self.store.host_logs(stream.job, stream.host, None, _ms(startTime),
                                             10**9):
                for index, (ms, text) in enumerate(line_events(line.ts, line.line)):
                    key = (ms, stream.name, line.seq, index)
                    if ((endTime is None or ms <= endTime) and (after is None or key > after)
                            and matches(text)):
                        found.append((key, {"logStreamName": stream.name, "timestamp": ms,
                                            "message": text, "ingestionTime": ms,
                                            "eventId": f"{line.seq}-{index}"}))
        found.sort(key=lambda item: item[0])
        answer: dict[str, Any] = {
            "events": [event for _, event in found[:limit]],
            "searchedLogStreams": [{"logStreamName": s.name, "searchedCompletely": True}
                                   for s in streams]}
        if len(found) > limit:
            ms, name, seq, index = found[limit - 1][0]
            answer["nextToken"] = f"p/{ms}/{seq}/{index}/{name}"
        return answer

    def _streams(self, prefix: str) -> list[Stream]:
        """The streams whose names start with ``prefix``: those of the one job ``<job>/...``
        names (the SDK's case, polled while a job runs), else of every job whose name starts
        with it."""
        head, slash, _ = prefix.partition("/")
        if slash:
            names = {head}
        else:
            names = {r["TrainingJobName"] for r in self.store.list_training_jobs()
                     if r["TrainingJobName"].startswith(head)}
        return [s for s in self._streams_of(names) if s.name.startswith(prefix)]

    def _streams_of(self, jobs: set[str]) -> list[Stream]:
        """The streams of the jobs named (those that exist), each host's that wrote lines."""
        streams = []
        for job in sorted(jobs):
            if not self.store.has_training_job(job):
                continue
            started = _started(self.store.record(job))
            for host, (first, last) in sorted(self.store.log_hosts(job).items()):
                if host != OUR_HOST:
                    streams.append(Stream(log_stream_name(job, host, started), job, host,
                                          first, last))
        return streams

    def get_log_events(self, logGroupName: str | None = None,  # noqa: N803
                       logStreamName: str = "",  # noqa: N803 (the model requires it)
                       startTime: int | None = None, nextToken: str | None = None,  # noqa: N803
                       limit: int = MAX_EVENTS, startFromHead: bool = False,  # noqa: N803
                       logGroupIdentifier: str | None = None,  # noqa: N803
                       **_: Any) -> dict[str, Any]:
        _group(logGroupName, logGroupIdentifier)
        job, host = self._stream(logStreamName)
        after = _position(nextToken)
        if after is None and not startFromHead:  # the newest events
            lines = self.store.host_logs(job, host, None, _ms(startTime), limit=10**9)[-limit:]
        else:
            lines = self.store.host_logs(job, host, after, _ms(startTime), limit)
        events = [{"timestamp": ms, "message": text, "ingestionTime": ms}
                  for line in lines for ms, text in line_events(line.ts, line.line)]
        if lines:
            forward, backward = _token("f", lines[-1]), _token("b", lines[0])
        else:
            forward = backward = nextToken or "f/-inf/0"
        return {"events": events, "nextForwardToken": forward, "nextBackwardToken": backward}


    def _stream(self, stream: str) -> tuple[str, str]:
        job, _, rest = stream.partition("/")
        host = rest.rsplit("-", 1)[0]
        if self.store.has_training_job(job):
            record = self.store.record(job)
            if (host != OUR_HOST and host in self.store.log_hosts(job)
                    and stream == log_stream_name(job, host, _started(record))):
                return job, host
        raise LogResourceNotFound(f"The specified log stream does not exist: {stream}")


def _group(name: str | None, identifier: str | None) -> None:
    """The group a request names (``logGroupName``, or ``logGroupIdentifier``: a name or an
    ARN), which must be SageMaker's training jobs' group."""
    if (name is None) == (identifier is None):
        raise InvalidParameter([Problem("logGroupName", (
            "give either logGroupName or logGroupIdentifier (not both, not neither)"))])
    group = name if name is not None else str(identifier)
    if identifier is not None and identifier.startswith("arn:"):
        group = identifier.partition(":log-group:")[2].removesuffix(":*")
    if group != LOG_GROUP:
        raise LogResourceNotFound(f"The specified log group does not exist: {group}")


def _ms(ms: int | None) -> int | None:
    """An epoch millisecond within what the store compares (a larger one: no event yet)."""
    return None if ms is None else max(min(ms, 2**62), -(2**62))


def _started(record: dict[str, Any]) -> float:
    """When the job's training started (its streams are named after it), else its creation."""
    return training_started(record, float(record["CreationTime"]))


def _token(kind: str, line: LogLine) -> str:
    return f"{kind}/{line.ts!r}/{line.seq}"


def _position(token: str | None) -> tuple[float, int] | None:
    """The line a token reads on after (a backward token: from the head again)."""
    if token is None:
        return None
    kind, _, rest = token.partition("/")
    ts, _, seq = rest.partition("/")
    try:
        position = (float(ts), int(seq))
    except ValueError:
        position = None
    if kind not in ("f", "b") or position is None:
        raise InvalidParameter([Problem("nextToken", "is not a token this service handed out")])
    return position if kind == "f" else None


_TERM = re.compile(r'([?-]?)(?:"((?:[^"\\]|\\.)*)"|(\S+))')


def filter_pattern(pattern: str) -> Callable[[str], bool]:
    """CloudWatch Logs' term patterns: every plain term (or ``"quoted phrase"``) must appear,
    at least one ``?term`` if any is given, no ``-term``; matched case-sensitively. The JSON,
    space-delimited and regular-expression patterns are refused, not guessed at."""
    text = pattern.strip()
    if text.startswith(("{", "[", "%")):
        raise InvalidParameter([Problem("filterPattern", (
            "smlocal matches term patterns only (words, \"quoted phrases\", ?any-of, "
            "-excluded); JSON, space-delimited and regular-expression patterns are not served"))])
    required: list[str] = []
    optional: list[str] = []
    excluded: list[str] = []
    for sign, quoted, bare in _TERM.findall(text):
        term = re.sub(r"\\(.)", r"\1", quoted) if quoted else bare
        {"?": optional, "-": excluded}.get(sign, required).append(term)

    def matches(message: str) -> bool:
        return (all(t in message for t in required)
                and (not optional or any(t in message for t in optional))
                and not any(t in message for t in excluded))

    return matches


def _page(token: str | None) -> tuple[int, str, int, int] | None:
    """The position of the last event a FilterLogEvents token's page handed out."""
    if token is None:
        return None
    kind, ms, seq, index, stream = (token.split("/", 4) + ["", "", "", ""])[:5]
    numbers = (ms.lstrip("-"), seq, index)
    if kind != "p" or not stream or not all(n.isascii() and n.isdigit() and len(n) < 19
                                            for n in numbers):
        raise InvalidParameter([Problem("nextToken", "is not a token this service handed out")])
    return int(ms), stream, int(seq), int(index)


__all__ = ["JobLogs", "LogLine", "LogResourceNotFound"]
