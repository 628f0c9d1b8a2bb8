"""``smlocal validate`` for CreateTrainingJob requests: the service model's rules, the ones
botocore skips (max, pattern, enum), and what only a run would otherwise reveal.

Locally a request may use ``file://`` paths (as well as ``s3://`` ones), the
``local``/``local_gpu`` instance types and no RoleArn; ``for_cloud`` insists on what the
cloud needs instead.
"""

from __future__ import annotations

import copy
import posixpath
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.api import builtin
from runner.contract import instances, metrics
from runner.core.problems import Problem, join_path
from runner.core.specs import Spec, path_problem, resolve_file_uri
from runner.shapes.model_cache import validate_request_cached

PLACEHOLDER_ROLE = "arn:aws:iam::000000000000:role/smlocal-placeholder"
_PLACEHOLDER_S3 = "s3://smlocal-placeholder/local"
_LOCAL_INSTANCE_TYPES = ("local", "local_gpu")
MAX_LOCAL_HOSTS = 8  # each host is a container on this machine
# Folders of the container that smlocal mounts itself
# (CheckpointConfig.LocalPath must not overlap them).
_MOUNTED_FOLDERS = ("/opt/ml/input", "/opt/ml/model", "/opt/ml/output")
# A Docker image reference: [registry[:port]/]name[/name...][:tag][@digest], names in lower case.
_IMAGE_REFERENCE = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)

ImageCheck = Callable[[str], bool]


def cloud_view(request: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``request`` with local-only values swapped for cloud-valid placeholders, so
    the service model judges everything else."""
    view = copy.deepcopy(request)
    view.setdefault("RoleArn", PLACEHOLDER_ROLE)
    rc = view.get("ResourceConfig")
    if isinstance(rc, dict) and rc.get("InstanceType") in _LOCAL_INSTANCE_TYPES:
        rc["InstanceType"] = "ml.m5.xlarge"
    for uri_path in _file_uris(view):
        _set(view, uri_path, _PLACEHOLDER_S3)
    return view


def validate_training(
    spec: Spec, *, for_cloud: bool = False, image_check: ImageCheck | None = None,
    cache_dir: Path | None = None
) -> list[Problem]:
    """Every problem in a CreateTrainingJob request; empty when it can run. With
    ``cache_dir``, the service model's verdict is remembered there
    (``runner.shapes.model_cache``)."""
    request = spec.request
    problems = merge_problems(
        validate_request_cached(request if for_cloud else cloud_view(request), "CreateTrainingJob",
                                cache_dir),
        check_training_semantics(request, spec, for_cloud=for_cloud)
        + builtin.training_problems(request),
    )
    algo = request.get("AlgorithmSpecification")
    image = algo.get("TrainingImage") if isinstance(algo, dict) else None
    image_explained = any(p.path == "AlgorithmSpecification.TrainingImage" for p in problems)
    if (image_check is not None and isinstance(image, str) and image and spec.local.build is None
            and not image_explained):
        if not image_check(image):
            problems.append(Problem(
                "AlgorithmSpecification.TrainingImage",
                f"image {image!r} is not in the local Docker engine and no Local.Build is "
                "given to build it",
            ))
    return sorted(set(problems))


def merge_problems(general: list[Problem], specific: list[Problem]) -> list[Problem]:
    """Both lists, less the general problems at a path the specific ones already explain
    (say the service model's S3 pattern where we say "file:// works only locally")."""
    explained = {p.path for p in specific}
    return [p for p in general if p.path not in explained] + specific


def check_training_semantics(
    request: dict[str, Any], spec: Spec, *, for_cloud: bool, prefix: str = ""
) -> list[Problem]:
    """Checks beyond the service model, shared with the training job definitions of tuning."""
    problems: list[Problem] = []
    algo = request.get("AlgorithmSpecification")
    if isinstance(algo, dict):
        defs = algo.get("MetricDefinitions")
        if isinstance(defs, list):
            # Pass every entry so the indexes in the paths stay those of the request; the
            # service model already reports the entries that are not mappings.
            defs_path = join_path(prefix, "AlgorithmSpecification.MetricDefinitions")
            not_mappings = {join_path(defs_path, i)
                            for i, d in enumerate(defs) if not isinstance(d, dict)}
            _, found = metrics.compile_definitions(defs, defs_path)
            problems += [p for p in found if p.path not in not_mappings]
        image, image_path = (algo.get("TrainingImage"),
                             join_path(prefix, "AlgorithmSpecification.TrainingImage"))
        if not image and not (for_cloud and algo.get("AlgorithmName")):
            problems.append(Problem(image_path,
                                    "is required (AlgorithmName is not supported locally)"))
        elif (isinstance(image, str) and image and not for_cloud
              and not _IMAGE_REFERENCE.fullmatch(image)):
            problems.append(Problem(image_path,
                                    f"{image!r} is not a valid Docker image reference "
                                    "([registry/]name[:tag][@digest], the name in lower case)"))
        if not for_cloud:
            problems += _check_nul(algo, join_path(prefix, "AlgorithmSpecification"),
                                   ("ContainerEntrypoint", "ContainerArguments"))
    if not for_cloud:
        problems += _check_nul(request, prefix, ("Environment",))
    channels = request.get("InputDataConfig")
    if isinstance(channels, list):
        problems += _check_channels(channels, spec, for_cloud, prefix)
    out = request.get("OutputDataConfig")
    if isinstance(out, dict) and isinstance(out.get("S3OutputPath"), str):
        problems += _check_uri(out["S3OutputPath"],
                               join_path(prefix, "OutputDataConfig.S3OutputPath"), spec, for_cloud,
                               must_exist=False)
    ckpt = request.get("CheckpointConfig")
    if isinstance(ckpt, dict) and isinstance(ckpt.get("S3Uri"), str):
        problems += _check_uri(ckpt["S3Uri"], join_path(prefix, "CheckpointConfig.S3Uri"), spec,
                               for_cloud, must_exist=False)
    if isinstance(ckpt, dict) and isinstance(ckpt.get("LocalPath"), str) and not for_cloud:
        problems += _check_container_folder(ckpt["LocalPath"],
                                            join_path(prefix, "CheckpointConfig.LocalPath"))
    rc = request.get("ResourceConfig")
    if isinstance(rc, dict):
        problems += check_resources(rc, join_path(prefix, "ResourceConfig"), for_cloud)
    problems += _check_spot(request, prefix)
    if for_cloud and not request.get("RoleArn"):
        problems.append(Problem(join_path(prefix, "RoleArn"), "is required by the cloud"))
    return problems


def _check_channels(channels: list[Any], spec: Spec, for_cloud: bool, prefix: str) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, channel in enumerate(channels):
        path = join_path(join_path(prefix, "InputDataConfig"), i)
        if not isinstance(channel, dict):
            continue
        name = channel.get("ChannelName")
        if isinstance(name, str):
            if name in seen:
                also = join_path(join_path(prefix, "InputDataConfig"), seen[name])
                problems.append(Problem(f"{path}.ChannelName",
                                        f"duplicate channel name {name!r} (also {also})"))
            seen.setdefault(name, i)
            if name in (".", "..") and not for_cloud:
                problems.append(Problem(f"{path}.ChannelName",
                                        f"{name!r} cannot name a channel: the channel is mounted "
                                        "at /opt/ml/input/data/<ChannelName>"))
        source = channel.get("DataSource")
        if isinstance(source, dict):
            problems += _check_data_source(source, f"{path}.DataSource", for_cloud)
        s3 = source.get("S3DataSource") if isinstance(source, dict) else None
        if isinstance(s3, dict) and isinstance(s3.get("S3Uri"), str):
            problems += _check_uri(s3["S3Uri"], f"{path}.DataSource.S3DataSource.S3Uri", spec,
                                   for_cloud, must_exist=True)
            data_type = s3.get("S3DataType")
            if not for_cloud and data_type == "AugmentedManifestFile":
                problems.append(Problem(f"{path}.DataSource.S3DataSource.S3DataType",
                                        "AugmentedManifestFile is not supported locally (S3Prefix "
                                        "and ManifestFile are)"))
            elif not for_cloud and data_type == "ManifestFile" and s3["S3Uri"].startswith("file://"):
                problems.append(Problem(f"{path}.DataSource.S3DataSource.S3DataType",
                                        "ManifestFile needs an s3:// manifest (a file:// channel "
                                        "is a folder or a file)"))
    return problems


def _check_data_source(source: dict[str, Any], path: str, for_cloud: bool) -> list[Problem]:
    """Exactly one of S3DataSource and FileSystemDataSource; locally, S3DataSource only."""
    given = [k for k in ("S3DataSource", "FileSystemDataSource") if source.get(k) is not None]
    if not given:
        return [Problem(path, "needs S3DataSource or FileSystemDataSource")]
    if len(given) > 1:
        return [Problem(path, "give S3DataSource or FileSystemDataSource, not both")]
    if given == ["FileSystemDataSource"] and not for_cloud:
        return [Problem(f"{path}.FileSystemDataSource",
                        "EFS and FSx for Lustre file systems are not supported locally; use "
                        "S3DataSource with an s3:// or file:// URI")]
    return []


def _check_uri(
    uri: str, path: str, spec: Spec, for_cloud: bool, *, must_exist: bool
) -> list[Problem]:
    """An input (``must_exist``) or an output folder's URI."""
    if uri.startswith("file://"):
        if for_cloud:
            return [Problem(path, "file:// paths work only locally; the cloud needs an s3:// URI")]
        why = path_problem(str(spec.base_dir / uri[len("file://"):]))
        if why is not None:
            return [Problem(path, f"is not a usable path: {why}")]
        local = resolve_file_uri(uri, spec.base_dir)
        if must_exist and not local.exists():
            return [Problem(path, f"no such file or folder: {local}")]
        if not must_exist:
            # smlocal makes folders under it: the nearest thing that exists must be a folder
            existing = next((p for p in (local, *local.parents) if p.exists()), None)
            if existing is not None and not existing.is_dir():
                return [Problem(path, f"must be a folder, but {existing} is a file")]
        return []
    if not uri.startswith("s3://"):
        return [Problem(path, "must be an s3:// URI (or file:// to run locally)")]
    return []


def _check_spot(request: dict[str, Any], prefix: str) -> list[Problem]:
    """MaxWaitTimeInSeconds goes with managed spot training only, and is at least the runtime."""
    stop = request.get("StoppingCondition")
    wait = stop.get("MaxWaitTimeInSeconds") if isinstance(stop, dict) else None
    if wait is None or not isinstance(stop, dict):
        return []
    path = join_path(prefix, "StoppingCondition.MaxWaitTimeInSeconds")
    if request.get("EnableManagedSpotTraining") is not True:
        return [Problem(path, "is only supported when EnableManagedSpotTraining is set to true "
                              "(the service refuses it otherwise)")]
    runtime = stop.get("MaxRuntimeInSeconds")
    if (all(isinstance(v, int) and not isinstance(v, bool) for v in (wait, runtime))
            and wait < runtime):
        return [Problem(path, "must be at least StoppingCondition.MaxRuntimeInSeconds "
                              f"({runtime}): it includes the time spent waiting for spot capacity")]
    return []


def _check_nul(node: dict[str, Any], prefix: str, keys: tuple[str, ...]) -> list[Problem]:
    """Strings handed to the container (environment, command line) cannot hold a NUL."""
    problems: list[Problem] = []
    for key in keys:
        value = node.get(key)
        items = (list(value.items()) if isinstance(value, dict) else list(enumerate(value))
                 if isinstance(value, list) else [])
        for name, item in items:
            if any(isinstance(text, str) and "\0" in text for text in (name, item)):
                problems.append(Problem(join_path(join_path(prefix, key), name),
                                        "must not contain a NUL character"))
    return problems


def _check_container_folder(local_path: str, path: str) -> list[Problem]:
    """CheckpointConfig.LocalPath: an absolute folder of the container of its own."""
    if not local_path.startswith("/"):
        return [Problem(path, "must be an absolute path in the container, e.g. /opt/ml/checkpoints "
                              f"(got {local_path!r})")]
    if "\0" in local_path:
        return [Problem(path, "must not contain a NUL character")]
    folder = posixpath.normpath(local_path)
    for mounted in _MOUNTED_FOLDERS:
        if (folder == mounted or folder.startswith(mounted + "/")
                or mounted.startswith(folder.rstrip("/") + "/")):
            return [Problem(path, f"{local_path!r} overlaps {mounted}, which smlocal mounts "
                                  "itself; use a folder of its own, e.g. /opt/ml/checkpoints")]
    return []


def check_resources(rc: dict[str, Any], path: str, for_cloud: bool) -> list[Problem]:
    """A ResourceConfig (or a tuning definition's HyperParameterTuningResourceConfig)."""
    problems: list[Problem] = []
    if not rc.get("InstanceGroups"):
        # the service model makes them optional for
        # InstanceGroups' sake; a job without groups needs both
        problems += [Problem(f"{path}.{key}", "is required")
                     for key in ("InstanceType", "InstanceCount") if key not in rc]
    itype = rc.get("InstanceType")
    if isinstance(itype, str):
        if itype in _LOCAL_INSTANCE_TYPES and for_cloud:
            problems.append(
                Problem(f"{path}.InstanceType",
                        f"{itype!r} works only locally; the cloud needs an ml.* instance type"))
        elif instances.lookup(itype) is None and not for_cloud and itype in _cloud_instance_types():
            # a type the cloud knows but smlocal has no size for (the service model's own
            # enum message covers names the cloud does not know)
            problems.append(Problem(f"{path}.InstanceType",
                                    f"unknown instance type {itype!r} (smlocal knows local, "
                                    "local_gpu and the common ml.* types)"))
    count = rc.get("InstanceCount")
    if isinstance(count, int) and not isinstance(count, bool):
        # The service model's min is 0 (for InstanceGroups); a job needs a host. Negative
        # counts are already refused by that min.
        if count == 0:
            problems.append(Problem(f"{path}.InstanceCount", "must be at least 1"))
        elif count > MAX_LOCAL_HOSTS and not for_cloud:
            problems.append(Problem(f"{path}.InstanceCount",
                                    f"smlocal runs at most {MAX_LOCAL_HOSTS} hosts locally, each a "
                                    f"container on this machine (got {count})"))
    if rc.get("InstanceGroups") and not for_cloud:
        problems.append(Problem(f"{path}.InstanceGroups",
                                "heterogeneous clusters are not supported locally"))
    return problems


def _cloud_instance_types() -> frozenset[str]:
    from runner.shapes import model as schema

    shape = schema.input_shape("CreateTrainingJob").members["ResourceConfig"]
    return frozenset(shape.members["InstanceType"].enum)  # type: ignore[attr-defined]


def _file_uris(request: dict[str, Any]) -> list[list[str | int]]:
    """Paths (as key lists) of every ``file://`` string in the request."""
    found: list[list[str | int]] = []

    def walk(node: Any, trail: list[str | int]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, [*trail, k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, [*trail, i])
        elif isinstance(node, str) and node.startswith("file://"):
            found.append(trail)

    walk(request, [])
    return found


def _set(root: Any, trail: list[str | int], value: Any) -> None:
    node = root
    for key in trail[:-1]:
        node = node[key]
    node[trail[-1]] = value
