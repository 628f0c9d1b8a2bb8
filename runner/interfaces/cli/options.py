"""What every command of ``smlocal`` shares: the service it runs on, and the command line's
options over a request's ``Local`` section."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from runner.core.problems import Problem, SpecError
from runner.core.specs import Spec


def service(args: argparse.Namespace) -> Any:
    """The service the command runs on: the store under --home, the local Docker engine, and
    AWS clients (--endpoint-url), each built on first need."""
    from runner.api.service import Service

    return Service(args.home, args.endpoint_url, notify=note)


def apply_local_options(spec: Spec, args: argparse.Namespace) -> Spec:
    """The spec with the command line's --gpus, --grace, --cloudwatch, --interrupt-after,
    --backend, --trials-on and --cloud-image over its Local section."""
    from dataclasses import replace

    from runner.core import specs

    local = spec.local
    if getattr(args, "gpus", None) is not None:
        try:
            local = replace(local, gpus=specs.parse_local({"Gpus": args.gpus}, spec.base_dir).gpus)
        except SpecError as exc:  # the option's own name, not the Local field's
            raise SpecError([Problem("--gpus", p.message) for p in exc.problems]) from None
    if getattr(args, "grace", None) is not None:
        if not math.isfinite(args.grace) or args.grace < 0:
            raise SpecError(
                [Problem("--grace", f"must be a number of seconds >= 0 (got {args.grace})")])
        local = replace(local, stop_grace_seconds=args.grace)
    if getattr(args, "cloudwatch", False):
        local = replace(local, cloudwatch=True)
    if getattr(args, "interrupt_after", None):
        try:
            parsed = specs.parse_local({"Interruptions": args.interrupt_after}, spec.base_dir)
        except SpecError as exc:
            raise SpecError([Problem("--interrupt-after", p.message)
                             for p in exc.problems]) from None
        local = replace(local, interruptions=parsed.interruptions)
    if getattr(args, "backend", None) is not None:
        local = replace(local, backend=args.backend)
    if getattr(args, "cloud_image", None) is not None:
        local = replace(local, cloud_image=args.cloud_image)
    if getattr(args, "trials_on", None) is not None:
        local = replace(local, trials_on=args.trials_on)
    return replace(spec, local=local)


def note(message: str) -> None:
    print(f"smlocal: {message}", file=sys.stderr)
