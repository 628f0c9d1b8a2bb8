"""Training jobs' logs as CloudWatch Logs serves them (runner/api/job_logs.py), read the way
the SageMaker SDK reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner.api.job_logs import InvalidParameter, JobLogs, LogResourceNotFound, filter_pattern
from runner.store.jobs import Store

GROUP = "/aws/sagemaker/TrainingJobs"


@pytest.fixture
def logs(tmp_path: Path) -> JobLogs:
    store = Store(tmp_path / "home")
    record = {"TrainingJobName": "job", "TrainingJobStatus": "InProgress", "CreationTime": 100.0,
              "SecondaryStatusTransitions": [{"Status": "Training", "StartTime": 105.0}]}
    store.create_training_job(record, {}, {})
    # stdout and stderr stored as they arrived: a late stderr batch has an earlier time
    store.add_logs("job", [("algo-1", "stdout", 110.0, "A"), ("algo-1", "stdout", 130.0, "B")])
    store.add_logs("job", [("algo-1", "stderr", 120.0, "C"), ("algo-1", "stdout", 140.0, "D"),
                           ("algo-1", "stdout", 140.0, ""), ("smlocal", "stderr", 150.0, "ours")])
    return JobLogs(store)


class Client:
    """The boto3 logs client's two calls, answered by JobLogs (the server's wire aside)."""

    def __init__(self, logs: JobLogs) -> None:
        self.logs = logs

    def get_log_events(self, **params: Any) -> dict[str, Any]:
        return self.logs.get_log_events(**params)


def test_one_stream_per_host_that_wrote_named_as_sagemaker_names_them(logs: JobLogs) -> None:
    streams = logs.describe_log_streams(GROUP, logStreamNamePrefix="job/")["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["job/algo-1-105"]  # (not smlocal's own lines)
    assert (streams[0]["firstEventTimestamp"] == 110_000
            and streams[0]["lastEventTimestamp"] == 140_000)


def test_the_sdks_reading_loop_gets_every_line_once_in_time_order(logs: JobLogs) -> None:
    from sagemaker.logs import log_stream

    events = list(log_stream(Client(logs), GROUP, "job/algo-1-105"))
    assert [e["message"] for e in events] == ["A", "C", "B", "D"]
    later = list(log_stream(Client(logs), GROUP, "job/algo-1-105", start_time=130_000, skip=1))
    assert [e["message"] for e in later] == ["D"]  # from B's time on, B itself skipped


def test_tokens_and_the_newest_events(logs: JobLogs) -> None:
    first = logs.get_log_events(GROUP, "job/algo-1-105", startFromHead=True, limit=2)
    assert [e["message"] for e in first["events"]] == ["A", "C"]
    rest = logs.get_log_events(GROUP, "job/algo-1-105", nextToken=first["nextForwardToken"])
    assert [e["message"] for e in rest["events"]] == ["B", "D"]
    end = logs.get_log_events(GROUP, "job/algo-1-105", nextToken=rest["nextForwardToken"])
    assert end["events"] == [] and end["nextForwardToken"] == rest["nextForwardToken"]
    newest = logs.get_log_events(GROUP, "job/algo-1-105", limit=1)
    assert [e["message"] for e in newest["events"]] == ["D"]
    with pytest.raises(InvalidParameter):
        logs.get_log_events(GROUP, "job/algo-1-105", nextToken="../../etc")


def test_unknown_groups_and_streams(logs: JobLogs) -> None:
    with pytest.raises(LogResourceNotFound):
        logs.describe_log_streams("/aws/sagemaker/Endpoints")
    for stream in ("job/algo-2-105", "job/algo-1-999", "other/algo-1-105", "job/smlocal-105"):
        with pytest.raises(LogResourceNotFound):
            logs.get_log_events(GROUP, stream)


def test_filter_log_events_over_streams_in_time_order(logs: JobLogs) -> None:
    logs.store.create_training_job({"TrainingJobName": "job-2", "TrainingJobStatus": "InProgress",
                                    "CreationTime": 100.0}, {}, {})
    logs.store.add_logs("job-2", [("algo-1", "stdout", 125.0, "E"),
                                  ("algo-2", "stdout", 115.0, "F")])

    def filtered(**params: Any) -> list[tuple[str, str]]:
        answer = logs.filter_log_events(GROUP, **params)
        return [(e["logStreamName"], e["message"]) for e in answer["events"]]

    assert [m for _, m in filtered()] == ["A", "F", "C", "E", "B", "D"]
    assert filtered(logStreamNamePrefix="job-2/algo-2") == [("job-2/algo-2-100", "F")]
    assert [m for _, m in filtered(logStreamNames=["job/algo-1-105", "job-2/algo-2-100"],
                                   startTime=115_000, endTime=130_000)] == ["F", "C", "B"]
    assert filtered(logStreamNames=["ghost/algo-1-1"]) == []
    first = logs.filter_log_events(GROUP, limit=4)
    rest = logs.filter_log_events(GROUP, limit=4, nextToken=first["nextToken"])
    assert [e["message"] for e in first["events"] + rest["events"]] == [
        "A", "F", "C", "E", "B", "D"]
    assert "nextToken" not in rest
    assert len({e["eventId"] for e in first["events"] + rest["events"]}) == 6
    with pytest.raises(InvalidParameter):
        logs.filter_log_events(GROUP, logStreamNames=["job/algo-1-105"], logStreamNamePrefix="job")
    for token in ("f/1/2", "p/1/2/3", "p/\u00b2/1/0/job/algo-1-105", "p/1/x/0/s"):
        with pytest.raises(InvalidParameter):
            logs.filter_log_events(GROUP, nextToken=token)
    # a line stored between two pages, earlier than the first page's last: no event twice
    logs.store.add_logs("job", [("algo-1", "stdout", 100.0, "early")])
    rest = logs.filter_log_events(GROUP, limit=4, nextToken=first["nextToken"])
    assert [e["message"] for e in rest["events"]] == ["B", "D"]
    # the group by its identifier (a name or an ARN), never both
    arn = f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}:*"
    assert logs.filter_log_events(logGroupIdentifier=arn, logStreamNamePrefix="job-2/")[
        "events"][0]["message"] == "F"
    with pytest.raises(InvalidParameter):
        logs.filter_log_events(GROUP, logGroupIdentifier=GROUP)
    with pytest.raises(InvalidParameter):
        logs.describe_log_streams()
    assert logs.get_log_events(GROUP, "job/algo-1-105", startTime=2**64)["events"] == []


def test_filter_patterns_are_cloudwatchs_term_patterns() -> None:
    lines = ["ERROR disk full", "error: minor", "WARN slow disk", "loss=0.5 epoch=2"]

    def kept(pattern: str) -> list[str]:
        return [line for line in lines if filter_pattern(pattern)(line)]

    assert kept("") == lines
    assert kept("ERROR") == ["ERROR disk full"]  # case-sensitive
    assert kept("disk full") == ["ERROR disk full"]  # every term
    assert kept('"disk full"') == ["ERROR disk full"]
    assert kept("?ERROR ?WARN") == ["ERROR disk full", "WARN slow disk"]
    assert kept("disk -full") == ["WARN slow disk"]
    assert kept('"loss=0.5"') == ["loss=0.5 epoch=2"]
    for unsupported in ('{ $.level = "ERROR" }', "[ip, user]", "%ERR.*%"):
        with pytest.raises(InvalidParameter) as refused:
            filter_pattern(unsupported)
        assert refused.value.problems[0].path == "filterPattern"
