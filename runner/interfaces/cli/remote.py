"""The CLI as a client of a running ``smlocal serve`` (``--endpoint URL``, or
``$SMLOCAL_ENDPOINT``): ``train``, ``tune``, ``describe``, ``list``, ``logs`` and ``stop``
send SageMaker's own requests there and follow the job through SageMaker's and CloudWatch
Logs' reads, so a command skips the engine's, the store's and botocore's set-up (the server
has them warm). Without an endpoint every command runs in-process.

A request file's relative ``file://`` paths are made absolute here (they are relative to the
file, as in-process); the server runs only those inside the folder it runs in. A ``Local``
section's ``Build`` is done here, before the request is sent (on loopback: the server's
machine is this one); its other options, like ``--gpus``, ``--grace`` and ``--cloudwatch``,
are the server's to set (a note says so; the options are refused). Requests go unsigned
unless the server asks for signatures (``serve --auth``): then they are signed with this
process's AWS credentials. Ctrl-C stops the job, as it does in-process. Exit
codes are the in-process ones.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.core.problems import Problem, SpecError
from runner.interfaces.cli.server_client import ENDPOINT_ENV, Connection, RemoteError

__all__ = ["ENDPOINT_ENV", "SERVED", "endpoint", "run"]

if TYPE_CHECKING:
    from runner.core.specs import Spec

SERVED = frozenset({"train", "tune", "describe", "list", "logs", "stop"})
LOG_GROUP = "/aws/sagemaker/TrainingJobs"  # runner.aws.cloudwatch's (a test keeps them one)
TAB_ESCAPE = "#011"  # CloudWatch's tab, as SageMaker ships lines (runner.contract.metrics')
TERMINAL = ("Completed", "Failed", "Stopped")
# Seconds between polls: FIRST_POLL for a job's first BRISK seconds (a short job's end is
# seen at once), then half as long again each time, up to LAST_POLL.
FIRST_POLL, BRISK, LAST_POLL = 0.01, 5.0, 0.5
TUNING_POLL = 0.1  # (a tuning job's poll lists its trials too)
EXIT_OK, EXIT_FAILED = 0, 1

Echo = Callable[[str], None]


def endpoint(args: argparse.Namespace) -> str | None:
    """The server a command goes to: ``--endpoint``, else ``$SMLOCAL_ENDPOINT``; None: none."""
    return getattr(args, "endpoint", None) or os.environ.get(ENDPOINT_ENV) or None


def run(command: str, args: argparse.Namespace, url: str,
        summary: Callable[[dict[str, Any]], None]) -> int:
    """``command`` through the server at ``url``; its exit code."""
    conn = Connection(url)
    try:
        if command in ("train", "tune"):
            return _create_and_follow(command, args, conn, summary)
        if command == "describe":
            tuning, answer = _describe(conn, args.name)
            return _print(f"Describe{'HyperParameterTuningJob' if tuning else 'TrainingJob'}",
                          answer)
        if command == "list":
            return _list(conn, args)
        if command == "logs":
            return _logs(conn, args)
        return _stop(conn, args.name, summary)
    except RemoteError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return exc.exit_code()


def _create_and_follow(command: str, args: argparse.Namespace, conn: Connection,
                       summary: Callable[[dict[str, Any]], None]) -> int:
    request = _request(command, args, conn.url)
    tuning = command == "tune"
    if tuning:
        name = request["HyperParameterTuningJobName"]
        conn.call("SageMaker.CreateHyperParameterTuningJob", request)
    else:
        name = request["TrainingJobName"]
        conn.call("SageMaker.CreateTrainingJob", request)
    try:
        if tuning:
            from runner.interfaces.cli.tuning import print_outcome

            record = _follow_tuning(conn, name)
            print_outcome(record)
            ok = record["HyperParameterTuningJobStatus"] == "Completed"
        else:
            record = _follow(conn, name, None if args.quiet else _echo)
            summary(record)
            ok = record["TrainingJobStatus"] == "Completed"
    except KeyboardInterrupt:
        conn.call(f"SageMaker.Stop{'HyperParameterTuningJob' if tuning else 'TrainingJob'}",
                  {f"{'HyperParameterTuningJob' if tuning else 'TrainingJob'}Name": name})
        print(f"smlocal: interrupted: {conn.url} stops {name}", file=sys.stderr)
        return 130
    return EXIT_OK if ok else EXIT_FAILED


def _request(command: str, args: argparse.Namespace, url: str) -> dict[str, Any]:
    """The request file's request, as the server takes it."""
    from runner.core import specs

    if getattr(args, "resume", None):
        raise SpecError([Problem("--resume", (
            "a server carries on with its own jobs when it starts: run without --endpoint "
            f"(unset {ENDPOINT_ENV}) to resume in-process"))])
    given = [f"--{o.replace('_', '-')}" for o in ("gpus", "grace", "cloudwatch", "interrupt_after",
                                                  "rehearse", "backend", "cloud_image", "trials_on")
             if getattr(args, o, None)]
    if given:
        raise SpecError([Problem(given[0], (
            "is a local option: the server runs every job with its own; run without "
            "--endpoint to set it"))])
    if args.spec is None:
        raise SpecError([Problem("SPEC", "a request file is required")])
    spec = specs.load_spec(args.spec)
    tuning = specs.is_tuning_request(spec.request)
    if tuning != (command == "tune"):
        other = ("CreateHyperParameterTuningJob", "tune") if tuning else ("CreateTrainingJob",
                                                                          "train")
        raise SpecError([Problem(str(args.spec), (
            f"holds a {other[0]} request: run it with `smlocal {other[1]}`"))])
    if args.name is not None:
        spec.request["HyperParameterTuningJobName" if tuning else "TrainingJobName"] = args.name
    _local_section(spec, url, args)
    request: dict[str, Any] = _absolute_files(spec.request, spec.base_dir)
    return request


def _local_section(spec: Spec, url: str, args: argparse.Namespace) -> None:
    """What a request file's ``Local`` section asks, done here or noted: ``Build`` builds the
    images on this machine (the server's, when it listens on loopback); the rest is the
    server's to set, and a note says it is not applied."""
    from runner.core.specs import LocalOptions

    defaults = LocalOptions().to_json()
    ignored = sorted(k for k, v in spec.local.to_json().items()
                     if k != "Build" and defaults.get(k) != v)
    if ignored:
        print(f"smlocal: Local.{', Local.'.join(ignored)}: not applied: the server at {url} "
              "runs every job with its own local options", file=sys.stderr)
    if spec.local.build is None:
        return
    host = urllib.parse.urlsplit(url).hostname or ""
    if not (host == "localhost" or host == "::1" or host.startswith("127.")):
        raise SpecError([Problem("Local.Build", (
            f"builds images on this machine, and the server at {url} may be another: build "
            "the image where the server runs, and remove Local.Build"))])
    from runner.interfaces.cli.options import service

    service(args).build_request_images(spec)


def _absolute_files(node: Any, base: Path) -> Any:
    """``node`` with every relative ``file://`` path made absolute (from the file's folder)."""
    if isinstance(node, str) and node.startswith("file://"):
        from runner.core.specs import resolve_file_uri

        return f"file://{resolve_file_uri(node, base)}"
    if isinstance(node, dict):
        return {k: _absolute_files(v, base) for k, v in node.items()}
    if isinstance(node, list):
        return [_absolute_files(v, base) for v in node]
    return node


def _follow(conn: Connection, name: str, echo: Echo | None) -> dict[str, Any]:
    """Poll the training job until it ends, echoing its log's new lines; its last record."""
    tokens: dict[str, str] = {}
    pauses = _pauses()
    while True:
        record = conn.call("SageMaker.DescribeTrainingJob", {"TrainingJobName": name})
        if echo is not None:  # (after the status: every line of an ended job is stored)
            _new_lines(conn, name, tokens, echo)
        if record["TrainingJobStatus"] in TERMINAL:
            return record
        time.sleep(next(pauses))


def _pauses(first: float = FIRST_POLL) -> Iterator[float]:
    """The pauses between polls of one job."""
    started = time.monotonic()
    pause = first
    while True:
        yield pause
        if time.monotonic() - started > BRISK:
            pause = min(pause * 1.5, LAST_POLL)


def _new_lines(conn: Connection, name: str, tokens: dict[str, str], echo: Echo) -> None:
    streams = conn.call("Logs_20140328.DescribeLogStreams", {
        "logGroupName": LOG_GROUP, "logStreamNamePrefix": f"{name}/"})["logStreams"]
    for stream in streams:
        key = stream["logStreamName"]
        while True:
            params = {"logGroupName": LOG_GROUP, "logStreamName": key, "startFromHead": True}
            if key in tokens:
                params["nextToken"] = tokens[key]
            answer = conn.call("Logs_20140328.GetLogEvents", params)
            tokens[key] = answer["nextForwardToken"]
            for event in answer["events"]:
                echo(event["message"].replace(TAB_ESCAPE, "\t"))
            if not answer["events"]:
                break


def _echo(line: str) -> None:
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away: the job goes on, its lines are dropped
        from runner.interfaces.cli import closed_pipe

        closed_pipe.discard_output(sys.stdout)


def _follow_tuning(conn: Connection, name: str) -> dict[str, Any]:
    """Poll the tuning job until it ends, a line per trial as each ends; its last record."""
    told: set[str] = set()
    pauses = _pauses(TUNING_POLL)
    while True:
        record = conn.call("SageMaker.DescribeHyperParameterTuningJob",
                           {"HyperParameterTuningJobName": name})
        for trial in _trials(conn, name):
            if trial["TrainingJobStatus"] in TERMINAL and trial["TrainingJobName"] not in told:
                told.add(trial["TrainingJobName"])
                metric = trial.get("FinalHyperParameterTuningJobObjectiveMetric")
                value = f" {metric['MetricName']} = {metric['Value']:g}" if metric else ""
                print(f"smlocal: {trial['TrainingJobName']}: {trial['TrainingJobStatus']}"
                      f"{value}", file=sys.stderr)
        if record["HyperParameterTuningJobStatus"] in TERMINAL:
            return record
        time.sleep(next(pauses))


def _trials(conn: Connection, name: str) -> list[dict[str, Any]]:
    """Every trial of a tuning job (all pages)."""
    params: dict[str, Any] = {"HyperParameterTuningJobName": name, "MaxResults": 100,
                              "SortBy": "CreationTime", "SortOrder": "Ascending"}
    trials: list[dict[str, Any]] = []
    while True:
        answer = conn.call("SageMaker.ListTrainingJobsForHyperParameterTuningJob", params)
        trials += answer["TrainingJobSummaries"]
        if not answer.get("NextToken"):
            return trials
        params["NextToken"] = answer["NextToken"]


def _describe(conn: Connection, name: str) -> tuple[bool, dict[str, Any]]:
    """(whether it is a tuning job, its Describe answer): a tuning job's name, else a
    training job's, as in-process."""
    try:
        return True, conn.call("SageMaker.DescribeHyperParameterTuningJob",
                               {"HyperParameterTuningJobName": name})
    except RemoteError as exc:  # (a name no tuning job may have is a ValidationException)
        if exc.code not in ("ResourceNotFound", "ValidationException"):
            raise
    return False, conn.call("SageMaker.DescribeTrainingJob", {"TrainingJobName": name})


def _print(operation: str, answer: dict[str, Any]) -> int:
    """The answer as the in-process command prints it (timestamps in ISO 8601)."""
    from runner.shapes.training_jobs import to_json

    print(to_json(_parsed(operation, answer)))
    return EXIT_OK


def _parsed(operation: str, answer: dict[str, Any]) -> dict[str, Any]:
    """``answer`` as botocore parses it off the wire (timestamps as datetimes)."""
    import botocore.parsers

    from runner.shapes import model

    shape = model.load_service_model().operation_model(operation).output_shape
    assert shape is not None  # (every operation served has an answer)
    parsed: dict[str, Any] = botocore.parsers.create_parser("json").parse(
        {"body": json.dumps(answer).encode(), "headers": {}, "status_code": 200}, shape)
    parsed.pop("ResponseMetadata", None)
    return parsed


def _list(conn: Connection, args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"MaxResults": 100}
    if args.status:
        params["StatusEquals"] = args.status
    summaries: list[dict[str, Any]] = []
    while True:
        answer = conn.call("SageMaker.ListTrainingJobs", params)
        summaries += answer["TrainingJobSummaries"]
        if not answer.get("NextToken"):
            break
        params["NextToken"] = answer["NextToken"]
    if args.output == "json":
        return _print("ListTrainingJobs", {"TrainingJobSummaries": summaries})
    from runner.interfaces.cli.tables import print_training_jobs

    print_training_jobs(_parsed("ListTrainingJobs",
                                {"TrainingJobSummaries": summaries})["TrainingJobSummaries"])
    return EXIT_OK


def _logs(conn: Connection, args: argparse.Namespace) -> int:
    if args.cloudwatch:
        raise SpecError([Problem("--cloudwatch", (
            "reads CloudWatch itself: run without --endpoint"))])
    tokens: dict[str, str] = {}
    if not args.follow:
        conn.call("SageMaker.DescribeTrainingJob", {"TrainingJobName": args.name})
        _new_lines(conn, args.name, tokens, _echo)
        return EXIT_OK
    _follow(conn, args.name, _echo)
    return EXIT_OK


def _stop(conn: Connection, name: str, summary: Callable[[dict[str, Any]], None]) -> int:
    tuning, _ = _describe(conn, name)
    if tuning:
        conn.call("SageMaker.StopHyperParameterTuningJob", {"HyperParameterTuningJobName": name})
        return EXIT_OK
    conn.call("SageMaker.StopTrainingJob", {"TrainingJobName": name})
    summary(_follow(conn, name, None))
    return EXIT_OK
