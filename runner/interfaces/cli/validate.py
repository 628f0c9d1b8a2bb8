"""``smlocal validate``: every check of a request file, with no side effects.

Nothing is written: no store is created (the warm-start parents of a tuning request are
looked up read-only, and a store that is not there holds none), no cache is kept. Where no
Docker engine answers (a CI job, say), every other check still runs and the image check is
reported as skipped, on stderr, unless ``--require-image`` makes that an error.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from functools import partial
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
        "--require-image",
        action="store_true",
        help="fail when no Docker engine answers to check the image (by default the "
        "image check is skipped then, with a note)",
    )


class EngineImageCheck:
    """``image_check`` for validation: whether the local Docker engine has an image. With no
    engine to ask, every image passes and ``skipped`` says why."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.skipped: str | None = None

    def __call__(self, image: str) -> bool:
        from runner.engines.base import EngineUnavailable

        if self.skipped is not None:
            return True
        try:
            return bool(self.backend.image_exists(image))
        except EngineUnavailable as exc:
            self.skipped = str(exc)
            return True


def cmd_validate(args: argparse.Namespace) -> int:
    from runner.api import builtin, validation
    from runner.core import specs

    if args.no_image_check and args.require_image:
        raise SpecError([Problem("--require-image", "cannot go with --no-image-check")])
    spec = specs.load_spec(args.spec)
    spec = replace(spec, request=builtin.complete(spec.request))
    image_check = None
    if not args.no_image_check:
        from runner.engines.docker.backend import DockerBackend

        image_check = EngineImageCheck(DockerBackend(Path(".")))
    if specs.is_tuning_request(spec.request):
        from runner.interfaces.cli import tuning as cli_tuning
        from runner.store.jobs import default_home
        from runner.store.tuning import stored_tuning_job_exists

        parents = partial(stored_tuning_job_exists, (args.home or default_home()).resolve())
        problems = cli_tuning.validate_spec(spec, args.for_cloud, image_check, parents)
    else:
        problems = validation.validate_training(
            spec, for_cloud=args.for_cloud, image_check=image_check
        )
    from runner.contract.metrics import request_warnings

    for warning in request_warnings(spec.request):  # worth knowing, not a reason to refuse
        print(f"smlocal: warning: {warning}", file=sys.stderr)
    skipped = image_check.skipped if image_check is not None else None
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
