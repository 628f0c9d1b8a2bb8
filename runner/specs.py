"""Request files: YAML or JSON holding the boto3 request shape, plus smlocal's own options.

Local-only settings live in one top-level ``Local`` section, removed before the request is
validated or sent anywhere, so the rest of the file goes to boto3 unchanged::

    TrainingJobName: demo
    AlgorithmSpecification: {TrainingImage: my-image:latest, TrainingInputMode: File}
    ...
    Local:
      Build: {Context: ./container, Dockerfile: Dockerfile, BuildArgs: {}}
      Gpus: all            # or "0,1": the devices given to GPU instance types
      StopGracePeriodSeconds: 120
      CloudWatch: true     # ship logs and metrics to CloudWatch (off by default)
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runner.problems import Problem, SpecError

LOCAL_KEY = "Local"
DEFAULT_GRACE_SECONDS = 120.0
_LOCAL_FIELDS = {"Build", "CloudWatch", "Gpus", "StopGracePeriodSeconds"}
_BUILD_FIELDS = {"Context", "Dockerfile", "BuildArgs"}


@dataclass(frozen=True)
class BuildOptions:
    context: Path
    dockerfile: str = "Dockerfile"
    build_args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LocalOptions:
    build: BuildOptions | None = None
    gpus: str | None = None  # None: all GPUs when the instance type has any
    stop_grace_seconds: float = DEFAULT_GRACE_SECONDS
    cloudwatch: bool = False  # logs and metrics to CloudWatch too

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"StopGracePeriodSeconds": self.stop_grace_seconds}
        if self.cloudwatch:
            out["CloudWatch"] = True
        if self.gpus is not None:
            out["Gpus"] = self.gpus
        if self.build is not None:
            out["Build"] = {
                "Context": str(self.build.context),
                "Dockerfile": self.build.dockerfile,
                "BuildArgs": dict(self.build.build_args),
            }
        return out


@dataclass(frozen=True)
class Spec:
    request: dict[str, Any]
    local: LocalOptions
    base_dir: Path  # relative file:// paths and build contexts resolve from here


def parse_document(text: str, source: str) -> dict[str, Any]:
    """A request file's text as a dict; JSON is YAML, but JSON errors read better as JSON."""
    try:
        if text.lstrip().startswith("{"):
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise SpecError([Problem(source, f"not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise SpecError([Problem(source, f"not valid YAML: {where}{reason}")]) from None
    if not isinstance(data, dict):
        raise SpecError([Problem(source, "must hold a mapping of request fields at the top level")])
    return data


def load_spec(path: str | Path) -> Spec:
    """Read a request file; raises SpecError naming the file when it cannot be read."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([Problem(str(path), f"cannot read: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError:
        raise SpecError([Problem(str(path), "is not UTF-8 text")]) from None
    return spec_from_dict(parse_document(text, str(path)), p.resolve().parent)


def spec_from_dict(data: dict[str, Any], base_dir: Path) -> Spec:
    request = {k: v for k, v in data.items() if k != LOCAL_KEY}
    local = parse_local(data.get(LOCAL_KEY), base_dir)
    return Spec(request=request, local=local, base_dir=base_dir)


def parse_local(raw: Any, base_dir: Path) -> LocalOptions:
    if raw is None:
        return LocalOptions()
    problems: list[Problem] = []
    if not isinstance(raw, dict):
        raise SpecError([Problem(LOCAL_KEY, "must be a mapping")])
    for key in sorted(set(raw) - _LOCAL_FIELDS):
        problems.append(Problem(f"{LOCAL_KEY}.{key}", f"is not a known field (valid: {', '.join(sorted(_LOCAL_FIELDS))})"))
    build = None
    if "Build" in raw:
        build = _parse_build(raw["Build"], base_dir, problems)
    gpus = raw.get("Gpus")
    if gpus is not None:
        gpus = str(gpus).strip()
        if gpus != "all" and not all(part.strip().isdigit() for part in gpus.split(",")):
            problems.append(Problem(f"{LOCAL_KEY}.Gpus", f"must be 'all' or a comma-separated list of device indexes (got {gpus!r})"))
    grace = raw.get("StopGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
    if isinstance(grace, bool) or not isinstance(grace, int | float) or not math.isfinite(grace) or grace < 0:
        problems.append(Problem(f"{LOCAL_KEY}.StopGracePeriodSeconds", f"must be a number of seconds >= 0 (got {grace!r})"))
        grace = DEFAULT_GRACE_SECONDS
    cloudwatch = raw.get("CloudWatch", False)
    if not isinstance(cloudwatch, bool):
        problems.append(Problem(f"{LOCAL_KEY}.CloudWatch", f"must be true or false (got {cloudwatch!r})"))
    if problems:
        raise SpecError(problems)
    return LocalOptions(build=build, gpus=gpus, stop_grace_seconds=float(grace), cloudwatch=bool(cloudwatch))


def _parse_build(raw: Any, base_dir: Path, problems: list[Problem]) -> BuildOptions | None:
    path = f"{LOCAL_KEY}.Build"
    if not isinstance(raw, dict):
        problems.append(Problem(path, "must be a mapping with Context (and optionally Dockerfile, BuildArgs)"))
        return None
    for key in sorted(set(raw) - _BUILD_FIELDS):
        problems.append(Problem(f"{path}.{key}", f"is not a known field (valid: {', '.join(sorted(_BUILD_FIELDS))})"))
    context = raw.get("Context")
    if not isinstance(context, str) or not context:
        problems.append(Problem(f"{path}.Context", "is required: the folder to build the image from"))
        return None
    ctx = (base_dir / context).resolve()
    dockerfile = str(raw.get("Dockerfile", "Dockerfile"))
    if not ctx.is_dir():
        problems.append(Problem(f"{path}.Context", f"is not a folder: {ctx}"))
    elif not (ctx / dockerfile).is_file():
        problems.append(Problem(f"{path}.Dockerfile", f"no such file in the context: {ctx / dockerfile}"))
    args = raw.get("BuildArgs") or {}
    if not isinstance(args, dict):
        problems.append(Problem(f"{path}.BuildArgs", "must be a mapping of strings"))
        args = {}
    return BuildOptions(context=ctx, dockerfile=dockerfile, build_args={str(k): str(v) for k, v in args.items()})


def is_tuning_request(request: dict[str, Any]) -> bool:
    """Whether a request file holds a CreateHyperParameterTuningJob request."""
    return "HyperParameterTuningJobName" in request or "HyperParameterTuningJobConfig" in request


def resolve_file_uri(uri: str, base_dir: Path) -> Path:
    """``file:///abs`` or ``file://relative`` (relative to the request file's folder)."""
    rest = uri[len("file://"):]
    p = Path(rest)
    return p if p.is_absolute() else (base_dir / p).resolve()
