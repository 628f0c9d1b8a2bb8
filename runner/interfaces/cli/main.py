"""``smlocal``: the command line. Parses arguments, calls the core, prints, picks exit codes.

Exit codes: 0 success; 1 the job failed or stopped, or the engine could not do its part;
2 bad input (the request, a name, an option), with one ``Field.Path: what is wrong`` line
per problem and never a traceback; 141 the reader of its output went away (as for ``cat``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from runner.core.problems import Problem, SpecError
from runner.interfaces.cli import closed_pipe, cloud, remote

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_CLOSED_PIPE = 128 + signal.SIGPIPE  # 141, as a shell reports `cat` whose reader went away


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smlocal",
                                     description="SageMaker training jobs, run locally in Docker.")
    parser.add_argument("--home", type=Path,
                        help="the store's folder (default: $SMLOCAL_HOME or ./.smlocal)")
    parser.add_argument(
        "--endpoint-url",
        help="send every AWS call (S3, CloudWatch) to this endpoint (LocalStack, MinIO, moto)")
    parser.add_argument(
        "--endpoint", metavar="URL",
        help="send train, tune, describe, list, logs and stop to this running `smlocal serve` "
             f"(default: ${remote.ENDPOINT_ENV}; unset: they run in this process)")
    sub = parser.add_subparsers(dest="command", required=True)

    from runner.interfaces.cli import validate as cli_validate

    cli_validate.add_parser(sub)
    from runner.interfaces.cli import doctor as cli_doctor

    cli_doctor.add_parser(sub)

    p = sub.add_parser("train", help="run a CreateTrainingJob request")
    p.add_argument("spec", type=Path, nargs="?")
    p.add_argument("--resume", metavar="NAME",
                   help="carry on with a training job whose smlocal process is gone (crash, kill)")
    p.add_argument("--name", help="TrainingJobName to use instead of the file's")
    p.add_argument("--gpus",
                   help="GPUs for GPU instance types: 'all' or '0,1' (overrides Local.Gpus)")
    p.add_argument("--grace", type=float,
                   help="seconds between SIGTERM and SIGKILL on stop (default 120)")
    p.add_argument("--quiet", action="store_true", help="do not echo the container's output")
    p.add_argument("--cloudwatch", action="store_true",
                   help="ship logs and metrics to CloudWatch too (as Local.CloudWatch: true)")
    p.add_argument("--interrupt-after", type=float, action="append", metavar="SECONDS",
                   help="rehearse a spot interruption after this many seconds of training "
                        "(again for each restart: give it once per interruption; as "
                        "Local.Interruptions)")
    cloud.add_train_options(p)

    p = sub.add_parser("describe", help="DescribeTrainingJob, as JSON")
    p.add_argument("name")
    p.add_argument("--output", choices=["json"], default="json")

    p = sub.add_parser("list", help="ListTrainingJobs")
    p.add_argument("--status", choices=["InProgress", "Completed", "Failed", "Stopping", "Stopped"],
                   help="only jobs in this TrainingJobStatus")
    p.add_argument("--output", choices=["table", "json"], default="table")

    p = sub.add_parser("logs", help="a job's log lines")
    p.add_argument("name")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing until the job ends")
    p.add_argument("--cloudwatch", action="store_true",
                   help="read the job's log streams back from CloudWatch")

    p = sub.add_parser("stop", help="StopTrainingJob: SIGTERM, then SIGKILL after the grace period")
    p.add_argument("name")

    from runner.interfaces.cli import tuning as cli_tuning

    cli_tuning.add_parsers(sub)
    cloud.add_parsers(sub)

    p = sub.add_parser("serve", help="answer SageMaker's API over HTTP (boto3, the SageMaker SDK)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8899, help="port to listen on (default 8899)")
    p.add_argument("--with-moto", action="store_true",
                   help="start a moto server beside it as S3 (in memory: gone when it stops)")
    p.add_argument("--auth", action="store_true",
                   help="answer only requests signed (SigV4) with the AWS credentials the server "
                        "runs with (others: 403)")

    p = sub.add_parser("build", help="build an image from a folder (skipped when nothing changed)")
    p.add_argument("context", type=Path)
    p.add_argument("--tag", "-t", required=True)
    p.add_argument("--file", "-f", default="Dockerfile")
    p.add_argument("--build-arg", action="append", default=[], metavar="KEY=VALUE")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code. A reader that goes away (``smlocal logs NAME | head``)
    ends the command quietly, as it ends ``cat``: exit code 141, as for a process that
    SIGPIPE ended (Python ignores SIGPIPE and raises BrokenPipeError instead)."""
    try:
        try:
            return _run(argv)
        finally:
            sys.stdout.flush()  # here, not at the interpreter's exit, where it cannot be caught
    except BrokenPipeError:
        closed_pipe.discard_output(sys.stdout, sys.stderr)  # nothing more is printed
        return EXIT_CLOSED_PIPE


def _run(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.endpoint_url:  # every command's AWS clients (tuning trials' too) resolve it
        os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)  # its terminal closed: end as on Ctrl-C, not mid-write
    url = remote.endpoint(args) if args.command in remote.SERVED else None
    try:
        if url is not None:
            return remote.run(args.command, args, url, _summary)
        return int(_COMMANDS[args.command](args))
    except SpecError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("smlocal: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        raise  # the reader went away: main() ends quietly
    except Exception as exc:
        from runner.api.errors import ENGINE_ERRORS, NAME_ERRORS

        if isinstance(exc, NAME_ERRORS):
            print(f"smlocal: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if isinstance(exc, ENGINE_ERRORS):
            print(f"smlocal: {exc}", file=sys.stderr)
            return EXIT_FAILED
        if os.environ.get("SMLOCAL_DEBUG"):
            raise
        # a bug of ours: one line, not a traceback (a job it hit was recorded as Failed)
        print(f"smlocal: internal error: {type(exc).__name__}: {exc} (SMLOCAL_DEBUG=1 shows "
              "the traceback)", file=sys.stderr)
        return EXIT_FAILED


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def service(args: argparse.Namespace) -> Any:
    """The service a command runs on (imported on first need: a client of a server has none)."""
    from runner.interfaces.cli import options

    return options.service(args)


def cmd_train(args: argparse.Namespace) -> int:
    from runner.core import specs
    from runner.interfaces.cli.options import apply_local_options

    echo = None if args.quiet else _job_echo
    if args.resume and service(args).cloud_jobs.is_cloud_job(args.resume):
        return cloud.follow(service(args), args.resume, echo, _summary)
    if args.resume:
        record = service(args).training_jobs.resume_training_job(args.resume, echo)
        _summary(record)
        return EXIT_OK if record["TrainingJobStatus"] == "Completed" else EXIT_FAILED
    if args.spec is None:
        raise SpecError([Problem("SPEC", "a request file is required (or --resume NAME)")])
    spec = specs.load_spec(args.spec)
    if specs.is_tuning_request(spec.request):
        raise SpecError(
            [Problem(str(args.spec),
                     "holds a CreateHyperParameterTuningJob request: run it with `smlocal tune`")])
    if args.name is not None:  # --name "" is refused by validation, not ignored
        spec.request["TrainingJobName"] = args.name
    spec = apply_local_options(spec, args)
    if spec.local.backend == "sagemaker":
        return cloud.train(service(args), spec, echo, _summary, named=args.name is not None)
    jobs = service(args).training_jobs
    record = jobs.run(jobs.create_training_job(spec, echo))
    _summary(record)
    return EXIT_OK if record["TrainingJobStatus"] == "Completed" else EXIT_FAILED


def _echo(host: str, stream: str, line: str) -> None:
    out = sys.stdout if stream == "stdout" else sys.stderr
    out.write(line + "\n")
    out.flush()


class _JobEcho:
    """``_echo`` for a running job: lines written as they come and flushed once a batch (the
    log sink calls ``flush``); the job goes on when the reader of its output goes away
    (``smlocal train SPEC | head``): the rest of the output is discarded, not the job."""

    def __call__(self, host: str, stream: str, line: str) -> None:
        out = sys.stdout if stream == "stdout" else sys.stderr
        try:
            out.write(line + "\n")
        except BrokenPipeError:
            closed_pipe.discard_output(out)

    def flush(self) -> None:
        for out in (sys.stdout, sys.stderr):
            try:
                out.flush()
            except BrokenPipeError:
                closed_pipe.discard_output(out)


_job_echo = _JobEcho()


def _summary(record: dict[str, Any]) -> None:
    line = f"smlocal: training job {record['TrainingJobName']}: {record['TrainingJobStatus']}"
    if record.get("SecondaryStatus") not in (None, record["TrainingJobStatus"]):
        line += f" ({record['SecondaryStatus']})"
    if "TrainingTimeInSeconds" in record:
        line += f" after {record['TrainingTimeInSeconds']} s"
    print(line, file=sys.stderr)
    if record.get("FailureReason"):
        print(f"smlocal: FailureReason: {record['FailureReason']}", file=sys.stderr)
    for metric in record.get("FinalMetricDataList", []):
        print(f"smlocal: {metric['MetricName']} = {metric['Value']:g}", file=sys.stderr)
    if record.get("ModelArtifacts"):
        print(f"smlocal: model: {record['ModelArtifacts']['S3ModelArtifacts']}", file=sys.stderr)


def cmd_describe(args: argparse.Namespace) -> int:
    from runner.shapes.training_jobs import to_json

    print(to_json(service(args).describe(args.name)))
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    from runner.interfaces.cli.tables import print_training_jobs
    from runner.shapes.training_jobs import to_json

    listed = service(args).training_jobs.list_training_jobs(StatusEquals=args.status)
    if args.output == "json":
        print(to_json(listed))
        return EXIT_OK
    print_training_jobs(listed["TrainingJobSummaries"])
    return EXIT_OK


def cmd_logs(args: argparse.Namespace) -> int:
    svc = service(args)
    if args.cloudwatch:
        found = svc.cloudwatch_logs(args.name, sys.stdout.write, sys.stderr.write)
        return EXIT_OK if found else EXIT_FAILED
    after, tried = 0, False
    while True:
        batch = svc.log_lines(args.name, after)  # ResourceNotFound when unknown
        for entry in batch:
            _echo(entry.host, entry.stream, entry.line)
        if batch:
            after = batch[-1].seq
            continue
        if not args.follow or svc.job_ended(args.name):
            if args.follow and svc.log_lines(args.name, after):
                continue
            return EXIT_OK
        if not tried and cloud.follow_logs(svc, args.name, _echo):
            return EXIT_OK  # a cloud job no other process followed: followed from here
        tried = True
        time.sleep(0.3)


def cmd_stop(args: argparse.Namespace) -> int:
    from runner.interfaces.cli import tuning as cli_tuning

    svc = service(args)
    if svc.is_tuning_job(args.name):
        return cli_tuning.stop(svc, args.name)
    if svc.cloud_jobs.is_cloud_job(args.name):
        svc.cloud_jobs.stop_training_job(args.name)
        return EXIT_OK
    final = svc.training_jobs.stop_training_job(TrainingJobName=args.name)
    if final is not None:
        _summary(final)
    return EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    build_args = {}
    for item in args.build_arg:
        key, sep, value = item.partition("=")
        if not sep:
            raise SpecError([Problem("--build-arg", f"must be KEY=VALUE (got {item!r})")])
        build_args[key] = value
    if not (args.context / args.file).is_file():
        raise SpecError([Problem("--file", f"no such file: {args.context / args.file}")])
    built = service(args).build_image(args.context.resolve(), args.tag, args.file, build_args,
                                      on_log=lambda line: print(f"  {line}", file=sys.stderr))
    print(f"smlocal: {args.tag} {'built' if built else 'is up to date'}", file=sys.stderr)
    return EXIT_OK


def cmd_tune(args: argparse.Namespace) -> int:
    from runner.interfaces.cli import tuning as cli_tuning

    return cli_tuning.cmd_tune(args, service(args))


def cmd_trials(args: argparse.Namespace) -> int:
    from runner.interfaces.cli import tuning as cli_tuning

    return cli_tuning.cmd_trials(args, service(args))


def cmd_report(args: argparse.Namespace) -> int:
    from runner.interfaces.cli import tuning as cli_tuning

    return cli_tuning.cmd_report(args, service(args))


def cmd_serve(args: argparse.Namespace) -> int:
    from runner.interfaces.cli import serve

    return serve.cmd_serve(args, service(args))


def cmd_validate(args: argparse.Namespace) -> int:
    from runner.interfaces.cli import validate as cli_validate

    return cli_validate.cmd_validate(args)


def cmd_import(args: argparse.Namespace) -> int:
    from runner.api.errors import ResourceNotFound
    from runner.interfaces.cli import tuning as cli_tuning

    svc = service(args)
    try:
        return cloud.cmd_import(args, svc, _job_echo, _summary)
    except ResourceNotFound:  # not a training job there: a tuning job, perhaps
        return cli_tuning.import_tuning_job(svc, args.name)


def cmd_diff(args: argparse.Namespace) -> int:
    return cloud.cmd_diff(args, service(args))


def cmd_doctor(args: argparse.Namespace) -> int:
    from runner.interfaces.cli import doctor as cli_doctor

    return cli_doctor.cmd_doctor(args)


_COMMANDS = {
    "validate": cmd_validate, "train": cmd_train, "describe": cmd_describe, "list": cmd_list,
    "logs": cmd_logs, "stop": cmd_stop, "build": cmd_build, "tune": cmd_tune, "trials": cmd_trials,
    "report": cmd_report, "serve": cmd_serve, "doctor": cmd_doctor, "import": cmd_import,
    "diff": cmd_diff,
}

if __name__ == "__main__":
    sys.exit(main())
