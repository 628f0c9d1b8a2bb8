"""The tuning commands of ``smlocal``: tune, trials, and tuning jobs in describe/stop/validate."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from runner import cli_resume
from runner.problems import Problem, SpecError
from runner.specs import Spec

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("tune", help="run a CreateHyperParameterTuningJob request")
    p.add_argument("spec", type=Path, nargs="?")
    p.add_argument("--name", help="HyperParameterTuningJobName to use instead of the file's")
    p.add_argument("--resume", metavar="NAME", help="carry on with a tuning job whose runner stopped (crash, kill)")
    p.add_argument("--gpus", help="GPUs for GPU instance types: 'all' or '0,1'")
    p.add_argument("--grace", type=float, help="seconds between SIGTERM and SIGKILL when a trial is stopped")
    p.add_argument("--plain", action="store_true", help="a line per event even on a terminal")
    p.add_argument("--cloudwatch", action="store_true", help="ship every trial's logs and metrics to CloudWatch")

    add_report_parser(sub)

    p = sub.add_parser("trials", help="ListTrainingJobsForHyperParameterTuningJob")
    p.add_argument("name")
    p.add_argument("--sort-by", choices=["Name", "CreationTime", "Status", "FinalObjectiveMetricValue"], default="FinalObjectiveMetricValue")
    p.add_argument("--sort-order", choices=["Ascending", "Descending"])
    p.add_argument("--status", choices=["InProgress", "Completed", "Failed", "Stopping", "Stopped"])
    p.add_argument("--output", choices=["table", "json"], default="table")


def add_report_parser(sub: Any) -> None:
    p = sub.add_parser("report", help="plots and tables of a tuning job (or a training job)")
    p.add_argument("name")
    p.add_argument("--out", type=Path, help="folder to write (default: <store>/reports/NAME)")
    p.add_argument("--format", choices=["html", "csv", "json"], default="html")


def cmd_report(args: argparse.Namespace, store: Any) -> int:
    from runner.report import ReportError, write_report

    out = args.out or store.home / "reports" / args.name
    try:
        paths = write_report(store, args.name, out, args.format)
    except ReportError as exc:
        print(f"smlocal: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(paths[0])
    return EXIT_OK


def is_tuning_job(store: Any, name: str) -> bool:
    from runner.tuning_store import TuningStore

    return TuningStore(store).exists(name)


def validate_spec(
    spec: Spec, for_cloud: bool, image_check: Any, parent_exists: Callable[[str], bool],
    cache_dir: Path | None = None,
) -> list[Problem]:
    """Every problem of a tuning request; ``parent_exists`` tells the warm-start parents
    that are in the store (``smlocal validate`` reads the store without writing it)."""
    from runner.tuning_validation import validate_tuning

    return validate_tuning(spec, for_cloud=for_cloud, image_check=image_check,
                           parent_exists=parent_exists, cache_dir=cache_dir)


def cmd_tune(args: argparse.Namespace, store: Any, backend: Any) -> int:
    from runner import builtin, specs
    from runner.tuning_store import TuningJobExists, TuningStore

    tstore = TuningStore(store)
    if args.resume:
        spec = _stored_spec(tstore, args.resume, args)
    else:
        if args.spec is None:
            raise SpecError([Problem("SPEC", "a request file is required (or --resume NAME)")])
        spec = specs.load_spec(args.spec)
        if "TrainingJobName" in spec.request and "HyperParameterTuningJobName" not in spec.request:
            raise SpecError([Problem(str(args.spec), "holds a CreateTrainingJob request: run it with `smlocal train`")])
        spec = replace(spec, request=builtin.complete(spec.request))
        if args.name is not None:  # --name "" is refused by validation, not ignored
            spec.request["HyperParameterTuningJobName"] = args.name
        spec = _with_options(spec, args)
        problems = validate_spec(spec, False, backend.image_exists, tstore.exists,
                                 cache_dir=store.home / "cache" / "validation")
        if problems:
            raise SpecError(problems)
        if tstore.exists(spec.request["HyperParameterTuningJobName"]):
            raise TuningJobExists(spec.request["HyperParameterTuningJobName"])
        _build_images(spec, backend)
    name = spec.request["HyperParameterTuningJobName"]
    with cli_resume.hold(store, cli_resume.TUNING, name):
        record = _run_tuning(store, backend, spec, resume=bool(args.resume), plain=args.plain)
    return EXIT_OK if record["HyperParameterTuningJobStatus"] == "Completed" else EXIT_FAILED


def _run_tuning(store: Any, backend: Any, spec: Spec, resume: bool, plain: bool) -> dict[str, Any]:
    """Run (or carry on with) a tuning job in this process, which holds its lease."""
    from runner.training import RunContext
    from runner.trials import Direction
    from runner.tuning import Tuner
    from runner.tuning_plans import make_plans
    from runner.tuning_store import TuningStore
    from runner.tuning_view import TuningView

    plans = make_plans(spec.request)
    name = spec.request["HyperParameterTuningJobName"]
    view = TuningView(name, plans[0].direction if plans else Direction.MINIMIZE, live=False if plain else None)
    tuner = Tuner(spec, RunContext(store=store, backend=backend), listener=view)
    if not resume:
        tuner.create()
    record = tuner.run()
    _print_outcome(store, TuningStore(store), name)
    return record


def _stored_spec(tstore: Any, name: str, args: argparse.Namespace | None = None) -> Spec:
    from runner.specs import stored_spec

    spec = stored_spec(*tstore.request(name))
    return _with_options(spec, args) if args is not None else spec


def _with_options(spec: Spec, args: argparse.Namespace) -> Spec:
    from runner.cli import apply_local_options

    return apply_local_options(spec, args)  # type: ignore[no-any-return]


def _build_images(spec: Spec, backend: Any) -> None:
    from runner import trial_jobs
    from runner.images import ensure_image

    build = spec.local.build
    if build is None:
        return
    images = {(d.get("AlgorithmSpecification") or {}).get("TrainingImage") for _, _, d in trial_jobs.definitions(spec.request)}
    for image in sorted(i for i in images if i):
        print(f"smlocal: building {image} from {build.context}", file=sys.stderr)
        ensure_image(backend, build.context, image, dockerfile=build.dockerfile, build_args=build.build_args,
                     on_log=lambda line: print(f"  {line}", file=sys.stderr))


def _print_outcome(store: Any, tstore: Any, name: str) -> None:
    from runner.tuning_describe import describe_tuning_job
    from runner.tuning_records import trial_views

    described = describe_tuning_job(tstore.record(name), trial_views(store, tstore, name), time.time())
    counters = described["TrainingJobStatusCounters"]
    print(f"smlocal: tuning job {name}: {described['HyperParameterTuningJobStatus']} "
          f"({', '.join(f'{k} {v}' for k, v in counters.items() if v)})", file=sys.stderr)
    best = described.get("BestTrainingJob")
    if best:
        metric = best["FinalHyperParameterTuningJobObjectiveMetric"]
        print(f"smlocal: best: {best['TrainingJobName']} {metric['MetricName']} = {metric['Value']:g} "
              f"with {' '.join(f'{k}={v}' for k, v in best['TunedHyperParameters'].items())}", file=sys.stderr)


def describe(store: Any, name: str) -> dict[str, Any]:
    from runner.tuning_describe import describe_tuning_job
    from runner.tuning_records import trial_views
    from runner.tuning_store import TuningStore

    tstore = TuningStore(store)
    return describe_tuning_job(tstore.record(name), trial_views(store, tstore, name), time.time())


def stop(store: Any, backend: Any, name: str) -> int:
    from runner.tuning_store import TuningStore

    tstore = TuningStore(store)
    record = tstore.record(name)
    if record["HyperParameterTuningJobStatus"] in ("Completed", "Failed", "Stopped"):
        raise SpecError([Problem(name, f"the tuning job already ended as {record['HyperParameterTuningJobStatus']}; nothing to stop")])
    tstore.request_stop(name, time.time())
    print(f"smlocal: stop requested for tuning job {name} and its training jobs", file=sys.stderr)
    held = cli_resume.tuning_runner_gone(store, name)
    if held is not None:  # its runner is gone: stop its trials and end it from here
        print(f"smlocal: no smlocal process runs {name} any more: stopping it from here", file=sys.stderr)
        with held:
            _run_tuning(store, backend, _stored_spec(tstore, name), resume=True, plain=True)
    return EXIT_OK


def cmd_trials(args: argparse.Namespace, store: Any) -> int:
    from runner.describe import to_json
    from runner.tuning_describe import list_trials
    from runner.tuning_records import trial_views
    from runner.tuning_store import TuningStore

    tstore = TuningStore(store)
    if not tstore.exists(args.name) and store.has_training_job(args.name):
        raise SpecError([Problem(args.name, "is a training job; `smlocal trials` lists the training jobs of a tuning job")])
    request, _ = tstore.request(args.name)
    objective = request["HyperParameterTuningJobConfig"].get("HyperParameterTuningJobObjective") or {}
    order = args.sort_order or ("Descending" if objective.get("Type") == "Maximize" and args.sort_by == "FinalObjectiveMetricValue" else "Ascending")
    response = list_trials(trial_views(store, tstore, args.name), args.name, status_equals=args.status,
                           sort_by=args.sort_by, sort_order=order)
    if args.output == "json":
        print(to_json(response))
        return EXIT_OK
    rows = [("TRAINING JOB", "STATUS", "OBJECTIVE", "HYPERPARAMETERS")]
    for s in response["TrainingJobSummaries"]:
        metric = s.get("FinalHyperParameterTuningJobObjectiveMetric")
        value = f"{metric['Value']:.6g}" if metric else "-"
        tuned = " ".join(f"{k}={v}" for k, v in s["TunedHyperParameters"].items())
        rows.append((s["TrainingJobName"], s["TrainingJobStatus"], value, tuned))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r[:3], widths, strict=True)) + "  " + r[3])
    return EXIT_OK
