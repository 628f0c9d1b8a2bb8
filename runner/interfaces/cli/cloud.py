"""The cloud commands of ``smlocal``: ``train --backend sagemaker``, following a cloud job again
(``train --resume``), stopping it, and ``import`` of a job that ran on SageMaker."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from runner.core.specs import Spec

EXIT_OK, EXIT_FAILED = 0, 1
EXIT_DETACHED = 130  # Ctrl-C: this process let go; the cloud job goes on
Summary = Callable[[dict[str, Any]], None]
Echo = Callable[[str, str, str], None]


def add_train_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=["local", "sagemaker"],
                   help="where the job runs (as Local.Backend; default local): sagemaker "
                        "submits it to SageMaker (boto3's region, credentials and endpoints) "
                        "and follows it from here")
    p.add_argument("--cloud-image", metavar="URI",
                   help="the TrainingImage SageMaker runs (an ECR URI; as Local.CloudImage), "
                        "for a built-in or locally built image")


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("import", help="record a training job that ran (or runs) on SageMaker: "
                                      "its request, record, log lines and metrics")
    p.add_argument("name")
    p.add_argument("--quiet", action="store_true", help="do not echo its log lines")

    p = sub.add_parser("diff", help="two training (or tuning) jobs side by side, e.g. the local "
                                    "and the SageMaker run of a request: exit 0 if they agree")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--metric-tolerance", type=float, default=0.01, metavar="R",
                   help="the largest relative difference of a final metric that still agrees "
                        "(default 0.01: 1%%)")
    p.add_argument("--output", choices=["table", "json"], default="table")
    p.add_argument("--report", nargs="?", const="", metavar="DIR",
                   help="also write the comparison page, both jobs' curves on one plot "
                        "(default folder: <store>/reports/A-vs-B)")


def train(service: Any, spec: Spec, echo: Echo | None, summary: Summary,
          named: bool = False) -> int:
    """``train --backend sagemaker``: submit, then follow until the job ends. ``named``: the
    name was given with ``--name`` (never changed, then)."""
    name = service.cloud_jobs.create_training_job(spec, rename=not named)
    return follow(service, name, echo, summary)


def follow(service: Any, name: str, echo: Echo | None, summary: Summary) -> int:
    """Follow a cloud job to its end; Ctrl-C lets go of it (it goes on in the cloud)."""
    try:
        record = service.cloud_jobs.follow(name, echo)
    except KeyboardInterrupt:
        _detached(name)
        return EXIT_DETACHED
    summary(record)
    return EXIT_OK if record["TrainingJobStatus"] == "Completed" else EXIT_FAILED


def follow_logs(service: Any, name: str, echo: Echo) -> bool:
    """``logs --follow`` of a cloud job that no process follows: follow it from here (its new
    lines echoed, and stored) until it ends; False when it is not one (local, or followed by
    another process: its lines come through the store)."""
    from runner.api.errors import ResourceInUse

    if not service.cloud_jobs.is_cloud_job(name):
        return False
    try:
        service.cloud_jobs.follow(name, echo)
    except ResourceInUse:  # (followed by another process, or a trial by its tuning job)
        return False
    return True


def cmd_import(args: argparse.Namespace, service: Any, echo: Echo, summary: Summary) -> int:
    try:
        record = service.cloud_jobs.import_training_job(args.name, None if args.quiet else echo)
    except KeyboardInterrupt:
        _detached(args.name)
        return EXIT_DETACHED
    summary(record)
    return EXIT_OK


def cmd_diff(args: argparse.Namespace, service: Any) -> int:
    import json
    import math

    from runner.core.problems import Problem, SpecError

    tolerance = args.metric_tolerance
    if not math.isfinite(tolerance) or tolerance < 0:
        raise SpecError([Problem("--metric-tolerance",
                                 f"must be a relative difference >= 0 (got {tolerance})")])
    found = service.diff(args.a, args.b, tolerance)
    if args.output == "json":
        print(json.dumps(found.to_json(), indent=2))
    else:
        _print_rows(found)
    if args.report is not None:
        from pathlib import Path

        written = service.write_comparison(found, Path(args.report) if args.report else None)
        print(f"smlocal: comparison page: {written[0]}", file=sys.stderr)
    return EXIT_OK if found.agree else EXIT_FAILED


def _print_rows(found: Any) -> None:
    rows = [("", found.a, found.b, "")] + [
        (r.field, r.a, r.b, {True: "same", False: "DIFFERS", None: ""}[r.agrees])
        for r in found.rows]
    widths = [min(48, max(len(row[i]) for row in rows)) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
              + "  " + row[3])
    print(f"smlocal: {found.a} and {found.b} "
          + ("agree" if found.agree else "differ"), file=sys.stderr)


def _detached(name: str) -> None:
    print(f"smlocal: let go of training job {name}: it goes on in SageMaker (`smlocal train "
          f"--resume {name}` follows it again, `smlocal stop {name}` stops it)", file=sys.stderr)
