"""The doctor's verdicts, from observations alone."""

from __future__ import annotations

from runner.api import doctor_clauses as c
from runner.api.doctor_clauses import FAIL, PASS, SKIP, Outcome


def outcome(**kw: object) -> Outcome:
    base: dict[str, object] = {"job": "j", "status": "Completed", "secondary": "Completed",
                               "exit_code": 0, "seconds": 2.0}
    return Outcome(**(base | kw))  # type: ignore[arg-type]


def test_entry_point() -> None:
    docker = ("ClientError: cannot start the container: failed to create task: exec: \"train\": "
              "executable file not found in $PATH")
    assert c.entry_point(outcome(status="Failed", failure_reason=docker, exit_code=None),
                         "train").verdict == FAIL
    assert c.entry_point(outcome(exit_code=126), "train").seen.startswith("train is not executable")
    assert c.entry_point(outcome(status="Failed", exit_code=1), "train").verdict == PASS


def test_sigterm() -> None:
    assert c.sigterm(outcome(), 10, 5).verdict == SKIP  # it ended before the stop
    killed = outcome(status="Stopped", exit_code=137, stop_to_end=10.2)
    assert c.sigterm(killed, 10, 5).verdict == FAIL
    assert c.sigterm(outcome(status="Stopped", exit_code=143, stop_to_end=0.3), 10, 5).seen == (
        "ended 0.3 s after SIGTERM with exit code 143")


def test_resumed_without_access_times_compares_the_first_lines() -> None:
    assert c.resumed(None, same_start=True, had_files=True, job="j").verdict == FAIL
    assert c.resumed(None, same_start=False, had_files=True, job="j").verdict == PASS
    assert c.resumed(True, same_start=True, had_files=True, job="j").verdict == PASS
    assert c.resumed(None, same_start=True, had_files=False, job="j").verdict == SKIP


def test_network_isolation_and_completion() -> None:
    normal, failed = outcome(), outcome(status="Failed", lines=["boom: Connection refused"])
    clause = c.network_isolation(normal, failed)
    assert clause.verdict == FAIL and clause.seen.endswith("it printed: boom: Connection refused")
    assert c.network_isolation(failed, failed).verdict == PASS
    late = outcome(status="Stopped", secondary="MaxRuntimeExceeded")
    assert c.completes(late, 60).verdict == SKIP


def test_metric_definitions() -> None:
    lines = ["loss=0.5", "loss=nan?", "acc=x1"]
    found = {x.name: x for x in c.metric_definitions(
        [{"Name": "loss", "Regex": r"loss=([0-9.]+)"}, {"Name": "acc", "Regex": r"acc=(\S+)"},
         {"Name": "bad", "Regex": "("}], outcome(lines=lines))}
    assert found["metric loss"].seen == "1 value(s): 0.5"
    assert found["metric acc"].verdict == FAIL and "'x1'" in found["metric acc"].seen
    assert found["metric AlgorithmSpecification.MetricDefinitions[2].Regex"].verdict == FAIL
    assert [x.verdict for x in c.metric_definitions([], outcome())] == [SKIP]
