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

import errno
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.core.documents import MAX_DOCUMENT_BYTES, size_problem
from runner.core.documents import (
    parse_document as parse_document,  # a request file's text as a dict
)
from runner.core.problems import Problem, SpecError, join_path

LOCAL_KEY = "Local"
DEFAULT_GRACE_SECONDS = 120.0
DEFAULT_ENGINE_WAIT_SECONDS = 60.0  # how long a job waits for a Docker engine that went away
DEFAULT_MAX_LOG_LINES = 10_000_000  # lines of a job kept in the store (about 2.6 GB)
_LOCAL_FIELDS = {"AssumeRole", "Backend", "Build", "CloudImage", "CloudWatch",
                 "EngineWaitSeconds", "Gpus", "InitProcess", "Interruptions", "MaxLogLines",
                 "StopGracePeriodSeconds", "TrialsOn"}
BACKENDS = ("local", "sagemaker")  # Local.Backend: where the job runs
_BUILD_FIELDS = {"Context", "Dockerfile", "BuildArgs"}
_DEVICE_INDEX = re.compile(r"[0-9]+")


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
    engine_wait_seconds: float = DEFAULT_ENGINE_WAIT_SECONDS  # for an engine gone mid-job
    max_log_lines: int = DEFAULT_MAX_LOG_LINES  # past it lines are scraped and shown, not stored
    assume_role: bool = False  # containers get the RoleArn's credentials (STS AssumeRole)
    # an init as PID 1 passes SIGTERM to the entry point; False: the entry point is PID 1, as
    # on SageMaker (a shell there ignores SIGTERM: the stop waits for the grace period)
    init_process: bool = True
    # rehearsed spot interruptions: after each (re)start, this many seconds of training
    interruptions: tuple[float, ...] = ()
    backend: str = "local"  # or "sagemaker": submitted to SageMaker and followed from here
    cloud_image: str | None = None  # the TrainingImage SageMaker runs instead (an ECR URI)
    trials_on: str = "local"  # a tuning job's trials: here, or each a SageMaker training job

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"StopGracePeriodSeconds": self.stop_grace_seconds}
        if self.engine_wait_seconds != DEFAULT_ENGINE_WAIT_SECONDS:
            out["EngineWaitSeconds"] = self.engine_wait_seconds
        if self.max_log_lines != DEFAULT_MAX_LOG_LINES:
            out["MaxLogLines"] = self.max_log_lines
        if self.cloudwatch:
            out["CloudWatch"] = True
        if self.assume_role:
            out["AssumeRole"] = True
        if not self.init_process:
            out["InitProcess"] = False
        if self.interruptions:
            out["Interruptions"] = list(self.interruptions)
        if self.gpus is not None:
            out["Gpus"] = self.gpus
        if self.backend != "local":
            out["Backend"] = self.backend
        if self.cloud_image is not None:
            out["CloudImage"] = self.cloud_image
        if self.trials_on != "local":
            out["TrialsOn"] = self.trials_on
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

    def stored_local(self) -> dict[str, Any]:
        """The local options as a job's record keeps them, with what a resume needs."""
        return {**self.local.to_json(), "BaseDir": str(self.base_dir)}


def stored_spec(request: dict[str, Any], local: dict[str, Any]) -> Spec:
    """The spec of a stored job, from its request and ``Spec.stored_local()``."""
    local = dict(local)
    base_dir = Path(local.pop("BaseDir", "."))
    return Spec(request=request, local=parse_local(local, base_dir), base_dir=base_dir)


def load_spec(path: str | Path) -> Spec:
    """Read a request file; raises SpecError naming the file when it cannot be read."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            raw = f.read(MAX_DOCUMENT_BYTES + 1)  # no more: the file may be endless (/dev/zero)
        text = raw.decode("utf-8")
    except OSError as exc:
        raise SpecError([Problem(str(path), f"cannot read: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError:
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise SpecError([size_problem(str(path))]) from None
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
    for key in sorted(set(raw) - _LOCAL_FIELDS, key=str):
        problems.append(
            Problem(f"{LOCAL_KEY}.{key}",
                    f"is not a known field (valid: {', '.join(sorted(_LOCAL_FIELDS))})"))
    build = None
    if "Build" in raw:
        build = _parse_build(raw["Build"], base_dir, problems)
    gpus = raw.get("Gpus")
    if gpus is not None:
        gpus = str(gpus).strip()
        if (gpus != "all"
                and not all(_DEVICE_INDEX.fullmatch(part.strip()) for part in gpus.split(","))):
            problems.append(Problem(f"{LOCAL_KEY}.Gpus", "must be 'all' or a comma-separated list "
                                                         f"of device indexes (got {gpus!r})"))
    grace = _seconds(raw, "StopGracePeriodSeconds", DEFAULT_GRACE_SECONDS, problems)
    engine_wait = _seconds(raw, "EngineWaitSeconds", DEFAULT_ENGINE_WAIT_SECONDS, problems)
    max_lines = raw.get("MaxLogLines", DEFAULT_MAX_LOG_LINES)
    if isinstance(max_lines, bool) or not isinstance(max_lines, int) or max_lines < 0:
        problems.append(Problem(f"{LOCAL_KEY}.MaxLogLines",
                                f"must be a whole number of lines >= 0 (got {max_lines!r})"))
        max_lines = DEFAULT_MAX_LOG_LINES
    cloudwatch, assume_role = (_flag(raw, key, problems) for key in ("CloudWatch", "AssumeRole"))
    init_process = _flag(raw, "InitProcess", problems, default=True)
    interruptions = _interruptions(raw.get("Interruptions", []), problems)
    backend, trials_on = (raw.get(key, "local") for key in ("Backend", "TrialsOn"))
    for key, value in (("Backend", backend), ("TrialsOn", trials_on)):
        if value not in BACKENDS:
            problems.append(Problem(f"{LOCAL_KEY}.{key}",
                                    f"must be one of {', '.join(BACKENDS)} (got {value!r})"))
    cloud_image = raw.get("CloudImage")
    if cloud_image is not None and (not isinstance(cloud_image, str) or not cloud_image.strip()):
        problems.append(Problem(f"{LOCAL_KEY}.CloudImage",
                                f"must be an image URI (ECR) for SageMaker (got {cloud_image!r})"))
    if problems:
        raise SpecError(problems)
    return LocalOptions(build=build, gpus=gpus, stop_grace_seconds=grace, cloudwatch=cloudwatch,
                        engine_wait_seconds=engine_wait, max_log_lines=max_lines,
                        assume_role=assume_role, init_process=init_process,
                        interruptions=interruptions, backend=backend, cloud_image=cloud_image,
                        trials_on=trials_on)


def _interruptions(raw: Any, problems: list[Problem]) -> tuple[float, ...]:
    path = f"{LOCAL_KEY}.Interruptions"
    if not isinstance(raw, list):
        problems.append(Problem(path, "must be a list of seconds of training, one per "
                                      f"interruption (got {raw!r})"))
        return ()
    for index, value in enumerate(raw):
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not math.isfinite(value) or value <= 0):
            problems.append(Problem(join_path(path, index),
                                    f"must be a number of seconds > 0 (got {value!r})"))
    if any(p.path.startswith(path) for p in problems):
        return ()
    return tuple(float(v) for v in raw)


def _flag(raw: dict[str, Any], key: str, problems: list[Problem], default: bool = False) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        problems.append(Problem(f"{LOCAL_KEY}.{key}", f"must be true or false (got {value!r})"))
        return default
    return value


def _seconds(raw: dict[str, Any], key: str, default: float, problems: list[Problem]) -> float:
    value = raw.get(key, default)
    if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            or value < 0):
        problems.append(Problem(f"{LOCAL_KEY}.{key}",
                                f"must be a number of seconds >= 0 (got {value!r})"))
        return default
    return float(value)


def _parse_build(raw: Any, base_dir: Path, problems: list[Problem]) -> BuildOptions | None:
    path = f"{LOCAL_KEY}.Build"
    if not isinstance(raw, dict):
        problems.append(
            Problem(path, "must be a mapping with Context (and optionally Dockerfile, BuildArgs)"))
        return None
    for key in sorted(set(raw) - _BUILD_FIELDS, key=str):
        problems.append(
            Problem(f"{path}.{key}",
                    f"is not a known field (valid: {', '.join(sorted(_BUILD_FIELDS))})"))
    context = raw.get("Context")
    if not isinstance(context, str) or not context:
        problems.append(Problem(f"{path}.Context",
                                "is required: the folder to build the image from"))
        return None
    dockerfile = raw.get("Dockerfile", "Dockerfile")
    if not isinstance(dockerfile, str) or not dockerfile.strip():
        problems.append(Problem(f"{path}.Dockerfile",
                                "must be the Dockerfile's name in the context, a non-empty string "
                                f"(got {dockerfile!r})"))
        return None
    why = path_problem(str(base_dir / context))
    if why is not None:
        problems.append(Problem(f"{path}.Context", f"is not a usable path: {why}"))
        return None
    ctx = (base_dir / context).resolve()
    why = path_problem(str(ctx / dockerfile))
    if why is not None:
        problems.append(Problem(f"{path}.Dockerfile", f"is not a usable path: {why}"))
    elif not ctx.is_dir():
        problems.append(Problem(f"{path}.Context", f"is not a folder: {ctx}"))
    elif not (ctx / dockerfile).is_file():
        problems.append(Problem(f"{path}.Dockerfile",
                                f"no such file in the context: {ctx / dockerfile}"))
    args = raw.get("BuildArgs") or {}
    if not isinstance(args, dict):
        problems.append(Problem(f"{path}.BuildArgs", "must be a mapping of strings"))
        args = {}
    for key, value in args.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            problems.append(Problem(join_path(f"{path}.BuildArgs", str(key)),
                                    f"must be a string (got {value!r})"))
    return BuildOptions(context=ctx, dockerfile=dockerfile,
                        build_args={str(k): str(v) for k, v in args.items()})


def path_problem(text: str) -> str | None:
    """Why ``text`` cannot name a file on this machine (a NUL character, a name too long, a
    symlink loop, no permission), or None when it can (whether or not the file exists)."""
    if "\0" in text:
        return "contains a NUL character"
    try:
        os.stat(text)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        return exc.strerror or str(exc)
    return None


def is_tuning_request(request: dict[str, Any]) -> bool:
    """Whether a request file holds a CreateHyperParameterTuningJob request."""
    return "HyperParameterTuningJobName" in request or "HyperParameterTuningJobConfig" in request


def resolve_file_uri(uri: str, base_dir: Path) -> Path:
    """``file:///abs`` or ``file://relative`` (relative to the request file's folder)."""
    rest = uri[len("file://"):]
    p = Path(rest)
    return p if p.is_absolute() else (base_dir / p).resolve()
