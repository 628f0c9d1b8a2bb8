"""``smlocal validate``: every check of a request file, with no side effects.

Nothing is written: no store is created (the warm-start parents of a tuning request are
looked up read-only, and a store that is not there holds none), no cache is kept. Where no
Docker engine answers (a CI job, say), every other check still runs and the image check is
reported as skipped, on stderr, unless ``--require-image`` makes that an error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from runner.core.problems import Problem, SpecError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def add_parser(sub: Any) -> None:
    p = sub.add_parser("validate", help="check a request file as the service would, and more")
    p.add_argument("spec", type=Path)
    p.add_argument(
        "--for-cloud", action="store_true", help="also insist on what only the cloud needs"
    )
    p.add_argument(
        "--no-image-check", action="store_true", help="do not ask the Docker engine about the image"
    )
    p.add_argument(
        "--quotas", action="store_true",
        help="with --for-cloud: read the account's SageMaker Service Quotas (the AWS "
        "credentials boto3 finds) and refuse a job that takes more instances at once",
    )
    p.add_argument(
        "--require-image",
        action="store_true",
        help="fail when no Docker engine answers to check the image (by default the "
        "image check is skipped then, with a note)",
    )


def cmd_validate(args: argparse.Namespace) -> int:
    from runner.core import specs
    from runner.interfaces.cli.options import service

    if args.no_image_check and args.require_image:
        raise SpecError([Problem("--require-image", "cannot go with --no-image-check")])
    if args.quotas and not args.for_cloud:
        raise SpecError([Problem("--quotas", "goes with --for-cloud")])
    spec = specs.load_spec(args.spec)
    found = service(args).validate(spec, for_cloud=args.for_cloud,
                                   check_image=not args.no_image_check, quotas=args.quotas)
    problems, skipped = found.problems, found.image_check_skipped
    for warning in found.warnings:  # worth knowing, not a reason to refuse
        print(f"smlocal: warning: {warning}", file=sys.stderr)
    for note in found.limits:
        print(f"smlocal: note: {note}", file=sys.stderr)
    if skipped is not None and args.require_image:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(
            f"smlocal: the image check could not run (--require-image): {skipped}", file=sys.stderr
        )
        return EXIT_BAD_INPUT if problems else EXIT_FAILED
    if skipped is not None:
        print(f"smlocal: note: image check skipped: {skipped}", file=sys.stderr)
    if problems:
        raise SpecError(problems)
    print("valid")
    return EXIT_OK
