"""A training job's log, read back as CloudWatch Logs serves SageMaker's: group
``/aws/sagemaker/TrainingJobs``, a stream ``<job>/<host>-<epoch seconds>`` for each host that
wrote lines, one event per line (DescribeLogStreams, GetLogEvents), from the store, so the
SDK's ``fit(logs=True)`` and ``logs_for_job`` follow a job that runs here.

Events come in time order (as CloudWatch keeps them; a stream's lines are stored as they
arrive, stdout and stderr interleaved). Tokens are opaque to the caller: ``f/<time>/<line>``
reads on after a line; a read with nothing new hands back the token it was given, as
CloudWatch does (the SDK stops reading there).
"""

from __future__ import annotations

from typing import Any

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


class JobLogs:
    def __init__(self, store: Store) -> None:
        self.store = store

    def describe_log_streams(self, logGroupName: str, logStreamNamePrefix: str = "",  # noqa: N803
                             descending: bool = False, limit: int = 50,
                             **_: Any) -> dict[str, Any]:
        """The streams whose names start with ``logStreamNamePrefix`` (``<job>/``), by name."""
        self._group(logGroupName)
        streams: list[dict[str, Any]] = []
        for record in self._jobs(logStreamNamePrefix):
            name = record["TrainingJobName"]
            for host, (first, last) in sorted(self.store.log_hosts(name).items()):
                if host == OUR_HOST:
                    continue
                stream = log_stream_name(name, host, _started(record))
                if stream.startswith(logStreamNamePrefix):
                    streams.append({"logStreamName": stream, "creationTime": int(first * 1000),
                                    "firstEventTimestamp": int(first * 1000),
                                    "lastEventTimestamp": int(last * 1000),
                                    "lastIngestionTime": int(last * 1000), "storedBytes": 0})
        streams.sort(key=lambda s: s["logStreamName"], reverse=descending)
        return {"logStreams": streams[:limit]}

    def get_log_events(self, logGroupName: str, logStreamName: str,  # noqa: N803
                       startTime: int | None = None, nextToken: str | None = None,  # noqa: N803
                       limit: int = MAX_EVENTS, startFromHead: bool = False,  # noqa: N803
                       **_: Any) -> dict[str, Any]:
        self._group(logGroupName)
        job, host = self._stream(logStreamName)
        after = _position(nextToken)
        if after is None and not startFromHead:  # the newest events
            lines = self.store.host_logs(job, host, None, startTime, limit=10**9)[-limit:]
        else:
            lines = self.store.host_logs(job, host, after, startTime, limit)
        events = [{"timestamp": ms, "message": text, "ingestionTime": ms}
                  for line in lines for ms, text in line_events(line.ts, line.line)]
        if lines:
            forward, backward = _token("f", lines[-1]), _token("b", lines[0])
        else:
            forward = backward = nextToken or "f/-inf/0"
        return {"events": events, "nextForwardToken": forward, "nextBackwardToken": backward}

    def _jobs(self, prefix: str) -> list[dict[str, Any]]:
        """The records of the jobs whose streams may start with ``prefix``: the one job
        ``<job>/...`` names (the SDK's case, polled while a job runs), else every job whose
        name starts with it."""
        head, slash, _ = prefix.partition("/")
        if slash:
            return [self.store.record(head)] if self.store.has_training_job(head) else []
        return [r for r in self.store.list_training_jobs() if r["TrainingJobName"].startswith(head)]

    def _group(self, group: str) -> None:
        if group != LOG_GROUP:
            raise LogResourceNotFound(f"The specified log group does not exist: {group}")

    def _stream(self, stream: str) -> tuple[str, str]:
        job, _, rest = stream.partition("/")
        host = rest.rsplit("-", 1)[0]
        if self.store.has_training_job(job):
            record = self.store.record(job)
            if (host != OUR_HOST and host in self.store.log_hosts(job)
                    and stream == log_stream_name(job, host, _started(record))):
                return job, host
        raise LogResourceNotFound(f"The specified log stream does not exist: {stream}")


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


__all__ = ["JobLogs", "LogLine", "LogResourceNotFound"]
