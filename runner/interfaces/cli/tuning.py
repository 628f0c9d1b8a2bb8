"""The tuning commands of ``smlocal``: tune, trials, and tuning jobs in describe/stop/validate."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from runner.core.problems import Problem, SpecError
from runner.core.specs import Spec
from runner.interfaces.cli.options import apply_local_options

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("tune", help="run a CreateHyperParameterTuningJob request")
    p.add_argument("spec", type=Path, nargs="?")
    p.add_argument("--name", help="HyperParameterTuningJobName to use instead of the file's")
    p.add_argument("--resume", metavar="NAME",
                   help="carry on with a tuning job whose runner stopped (crash, kill)")
    p.add_argument("--gpus", help="GPUs for GPU instance types: 'all' or '0,1'")
    p.add_argument("--grace", type=float,
                   help="seconds between SIGTERM and SIGKILL when a trial is stopped")
    p.add_argument("--plain", action="store_true", help="a line per event even on a terminal")
    p.add_argument("--cloudwatch", action="store_true",
                   help="ship every trial's logs and metrics to CloudWatch")
    p.add_argument("--rehearse", action="store_true",
                   help="instead of the tuning job: one short trial at each corner of the "
                        "search space (each range's min and max, each categorical value); "
                        "exit 1 when one crashed, ran out of memory, gave NaN or no objective")
    p.add_argument("--backend", choices=["local", "sagemaker"],
                   help="where the tuning job runs (as Local.Backend; default local): sagemaker "
                        "submits it to SageMaker and follows it from here")
    p.add_argument("--trials-on", choices=["local", "sagemaker"],
                   help="where the trials run (as Local.TrialsOn; default local): sagemaker "
                        "makes each trial a SageMaker training job, the tuner running here")
    p.add_argument("--cloud-image", metavar="URI",
                   help="the TrainingImage SageMaker runs for the trials (an ECR URI; as "
                        "Local.CloudImage)")
    p.add_argument("--rehearse-seconds", type=float, default=60.0, metavar="S",
                   help="the most a rehearsal trial may take (default 60); each is stopped "
                        "at its first objective value")

    add_report_parser(sub)

    p = sub.add_parser("trials", help="ListTrainingJobsForHyperParameterTuningJob")
    p.add_argument("name")
    p.add_argument("--sort-by",
                   choices=["Name", "CreationTime", "Status", "FinalObjectiveMetricValue"],
                   default="FinalObjectiveMetricValue")
    p.add_argument("--sort-order", choices=["Ascending", "Descending"])
    p.add_argument("--status", choices=["InProgress", "Completed", "Failed", "Stopping", "Stopped"])
    p.add_argument("--output", choices=["table", "json"], default="table")


def add_report_parser(sub: Any) -> None:
    p = sub.add_parser("report", help="plots and tables of a tuning job (or a training job)")
    p.add_argument("name")
    p.add_argument("--out", type=Path, help="folder to write (default: <store>/reports/NAME)")
    p.add_argument("--format", choices=["html", "csv", "json"], default="html")


def cmd_report(args: argparse.Namespace, service: Any) -> int:
    from runner.report.data import ReportError

    try:
        paths = service.write_report(args.name, args.out, args.format)
    except ReportError as exc:
        print(f"smlocal: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(paths[0])
    return EXIT_OK


def _view(spec: Spec, plain: bool) -> Any:
    """The terminal's view of a running tuning job: a live table, or a line per event."""
    from runner.interfaces.cli.tuning_view import TuningView
    from runner.tuning.plans import make_plans
    from runner.tuning.trials import Direction

    plans = make_plans(spec.request)
    name = spec.request["HyperParameterTuningJobName"]
    return TuningView(name, plans[0].direction if plans else Direction.MINIMIZE,
                      live=False if plain else None)


def cmd_tune(args: argparse.Namespace, service: Any) -> int:
    from runner.core import specs

    jobs = service.tuning_jobs
    if args.resume and service.cloud_tuning.is_cloud_job(args.resume):
        return _follow_cloud(service, args.resume, args.plain)
    if args.resume:
        stored = jobs.stored_spec(args.resume)
        for option, given, was in (("--trials-on", args.trials_on, stored.local.trials_on),
                                   ("--backend", args.backend, stored.local.backend)):
            if given is not None and given != was:
                raise SpecError([Problem(option, (
                    f"tuning job {args.resume} runs with {option} {was}: a resume carries it "
                    "on where it runs"))])
        spec = apply_local_options(stored, args)
        tuner = jobs.resume_hyper_parameter_tuning_job(spec, _view(spec, args.plain))
    else:
        if args.spec is None:
            raise SpecError([Problem("SPEC", "a request file is required (or --resume NAME)")])
        spec = specs.load_spec(args.spec)
        if "TrainingJobName" in spec.request and "HyperParameterTuningJobName" not in spec.request:
            raise SpecError(
                [Problem(str(args.spec),
                         "holds a CreateTrainingJob request: run it with `smlocal train`")])
        if args.name is not None:  # --name "" is refused by validation, not ignored
            spec.request["HyperParameterTuningJobName"] = args.name
        spec = apply_local_options(spec, args)
        if args.rehearse:
            return _rehearse(service, spec, args.rehearse_seconds)
        if spec.local.backend == "sagemaker":
            name = service.cloud_tuning.create_hyper_parameter_tuning_job(
                spec, rename=args.name is None)
            return _follow_cloud(service, name, args.plain)
        tuner = jobs.create_hyper_parameter_tuning_job(spec, _view(spec, args.plain))
    record = jobs.run(tuner, resume=bool(args.resume))
    _print_outcome(jobs, tuner.name)
    return EXIT_OK if record["HyperParameterTuningJobStatus"] == "Completed" else EXIT_FAILED


def import_tuning_job(service: Any, name: str) -> int:
    """``smlocal import`` of a tuning job on SageMaker: recorded, and followed to its end."""
    service.cloud_tuning.import_hyper_parameter_tuning_job(name)
    return _follow_cloud(service, name, plain=False)


def _follow_cloud(service: Any, name: str, plain: bool) -> int:
    """Follow a tuning job on SageMaker to its end; Ctrl-C lets go (it goes on there)."""
    jobs = service.tuning_jobs
    try:
        record = service.cloud_tuning.follow(name, _view(jobs.stored_spec(name), plain))
    except KeyboardInterrupt:
        print(f"smlocal: let go of tuning job {name}: it goes on in SageMaker (`smlocal tune "
              f"--resume {name}` follows it again, `smlocal stop {name}` stops it)",
              file=sys.stderr)
        return 130
    _print_outcome(jobs, name)
    return EXIT_OK if record["HyperParameterTuningJobStatus"] == "Completed" else EXIT_FAILED


def _rehearse(service: Any, spec: Spec, seconds: float) -> int:
    from runner.interfaces.cli.tables import print_columns
    from runner.tuning.corners import OK

    if not seconds > 0:
        raise SpecError([Problem("--rehearse-seconds",
                                 f"must be a number of seconds > 0 (got {seconds})")])
    found = service.rehearse(spec, seconds)
    print_columns([("CORNER", "VERDICT", "HYPERPARAMETERS", "DETAIL")] + [
        (r.job, r.verdict, " ".join(f"{k}={v}" for k, v in r.hyperparameters.items()), r.detail)
        for r in found], padded=3)
    bad = [r for r in found if r.verdict != OK]
    print(f"smlocal: rehearsal: {len(found) - len(bad)} of {len(found)} corner(s) ok"
          + (f"; see smlocal logs {bad[0].job}" if bad else ""), file=sys.stderr)
    return EXIT_FAILED if bad else EXIT_OK


def _print_outcome(jobs: Any, name: str) -> None:
    print_outcome(jobs.describe_hyper_parameter_tuning_job(name))


def print_outcome(described: dict[str, Any]) -> None:
    """How a tuning job ended, from its DescribeHyperParameterTuningJob answer."""
    name = described["HyperParameterTuningJobName"]
    counters = described["TrainingJobStatusCounters"]
    print(f"smlocal: tuning job {name}: {described['HyperParameterTuningJobStatus']} "
          f"({', '.join(f'{k} {v}' for k, v in counters.items() if v)})", file=sys.stderr)
    best = described.get("BestTrainingJob")
    if best:
        metric = best["FinalHyperParameterTuningJobObjectiveMetric"]
        print(f"smlocal: best: {best['TrainingJobName']} {metric['MetricName']} = "
              f"{metric['Value']:g} "
              f"with {' '.join(f'{k}={v}' for k, v in best['TunedHyperParameters'].items())}",
              file=sys.stderr)


def stop(service: Any, name: str) -> int:
    if service.cloud_tuning.is_cloud_job(name):
        service.cloud_tuning.stop(name)
        return EXIT_OK
    jobs = service.tuning_jobs
    jobs.stop_hyper_parameter_tuning_job(name, _view(jobs.stored_spec(name), plain=True))
    return EXIT_OK


def cmd_trials(args: argparse.Namespace, service: Any) -> int:
    from runner.interfaces.cli.tables import print_columns
    from runner.shapes.training_jobs import to_json

    response = service.tuning_jobs.list_training_jobs_for_hyper_parameter_tuning_job(
        args.name, StatusEquals=args.status, SortBy=args.sort_by, SortOrder=args.sort_order)
    if args.output == "json":
        print(to_json(response))
        return EXIT_OK
    rows = [("TRAINING JOB", "STATUS", "OBJECTIVE", "HYPERPARAMETERS")]
    for s in response["TrainingJobSummaries"]:
        metric = s.get("FinalHyperParameterTuningJobObjectiveMetric")
        value = f"{metric['Value']:.6g}" if metric else "-"
        tuned = " ".join(f"{k}={v}" for k, v in s["TunedHyperParameters"].items())
        rows.append((s["TrainingJobName"], s["TrainingJobStatus"], value, tuned))
    print_columns(rows, padded=3)  # (the hyperparameters, last, as long as they are)
    return EXIT_OK
