"""``smlocal doctor SPEC|IMAGE``: one line per clause of the contract, pass, fail or skip,
with what was seen and how to fix it; exit 0 only when none failed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from runner.core.problems import Problem, SpecError

EXIT_OK, EXIT_FAILED = 0, 1


def add_parser(sub: Any) -> None:
    p = sub.add_parser("doctor", help="run an image under the contract a few times and say what "
                                      "the cloud would find, clause by clause")
    p.add_argument("target", help="a CreateTrainingJob request file, or an image")
    p.add_argument("--budget", type=float, default=60.0,
                   help="seconds each run may take (its MaxRuntimeInSeconds; default 60)")
    p.add_argument("--stop-after", type=float, default=10.0,
                   help="seconds of training before the stop run gets SIGTERM (default 10)")
    p.add_argument("--grace", type=float, default=10.0,
                   help="seconds from SIGTERM to SIGKILL in the stop run (default 10; "
                        "SageMaker's is 120)")
    p.add_argument("--output", choices=["text", "json"], default="text")


def cmd_doctor(args: argparse.Namespace) -> int:
    from runner.api.doctor import DoctorOptions
    from runner.core import specs
    from runner.interfaces.cli.options import service

    for name in ("budget", "stop_after", "grace"):
        value = getattr(args, name)
        if not value > 0:  # NaN too
            raise SpecError([Problem(f"--{name.replace('_', '-')}",
                                     f"must be a number of seconds > 0 (got {value})")])
    target = Path(args.target)
    spec = specs.load_spec(target) if target.is_file() else None
    options = DoctorOptions(budget=args.budget, stop_after=args.stop_after, grace=args.grace)
    found = service(args).doctor(spec if spec is not None else args.target, options)
    failed = any(c.verdict == "fail" for c in found)
    if args.output == "json":
        print(json.dumps({"Clauses": [c.to_json() for c in found], "Passed": not failed},
                         indent=2))
    else:
        width = max(len(c.name) for c in found)
        for c in found:
            print(f"{c.verdict.upper():<4}  {c.name:<{width}}  {c.seen}")
            if c.fix:
                print(f"{'':<4}  {'':<{width}}  fix: {c.fix}")
            if c.verdict == "fail" and c.job:
                print(f"{'':<4}  {'':<{width}}  log: smlocal logs {c.job}")
    print("smlocal: doctor: " + ("some clauses failed" if failed else "no clause failed"),
          file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK
