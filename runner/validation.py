"""``smlocal validate`` for CreateTrainingJob requests: the service model's rules, the ones
botocore skips (max, pattern, enum), and what only a run would otherwise reveal.

Locally a request may use ``file://`` paths (as well as ``s3://`` ones), the
``local``/``local_gpu`` instance types and no RoleArn; ``for_cloud`` insists on what the
cloud needs instead.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner import builtin, instances, metrics
from runner.problems import Problem, join_path
from runner.schema_cache import validate_request_cached
from runner.specs import Spec, resolve_file_uri

PLACEHOLDER_ROLE = "arn:aws:iam::000000000000:role/smlocal-placeholder"
_PLACEHOLDER_S3 = "s3://smlocal-placeholder/local"
_LOCAL_INSTANCE_TYPES = ("local", "local_gpu")
MAX_LOCAL_HOSTS = 8  # each host is a container on this machine

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
    spec: Spec, *, for_cloud: bool = False, image_check: ImageCheck | None = None, cache_dir: Path | None = None
) -> list[Problem]:
    """Every problem in a CreateTrainingJob request; empty when it can run. With
    ``cache_dir``, the service model's verdict is remembered there (``runner.schema_cache``)."""
    request = spec.request
    problems = merge_problems(
        validate_request_cached(request if for_cloud else cloud_view(request), "CreateTrainingJob", cache_dir),
        check_training_semantics(request, spec, for_cloud=for_cloud) + builtin.training_problems(request),
    )
    algo = request.get("AlgorithmSpecification")
    image = algo.get("TrainingImage") if isinstance(algo, dict) else None
    if image_check is not None and isinstance(image, str) and image and spec.local.build is None:
        if not image_check(image):
            problems.append(Problem(
                "AlgorithmSpecification.TrainingImage",
                f"image {image!r} is not in the local Docker engine and no Local.Build is given to build it",
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
            not_mappings = {join_path(defs_path, i) for i, d in enumerate(defs) if not isinstance(d, dict)}
            _, found = metrics.compile_definitions(defs, defs_path)
            problems += [p for p in found if p.path not in not_mappings]
        if not algo.get("TrainingImage") and not algo.get("AlgorithmName"):
            problems.append(Problem(join_path(prefix, "AlgorithmSpecification.TrainingImage"), "is required (AlgorithmName is not supported locally)"))
    channels = request.get("InputDataConfig")
    if isinstance(channels, list):
        problems += _check_channels(channels, spec, for_cloud, prefix)
    out = request.get("OutputDataConfig")
    if isinstance(out, dict) and isinstance(out.get("S3OutputPath"), str):
        problems += _check_uri(out["S3OutputPath"], join_path(prefix, "OutputDataConfig.S3OutputPath"), spec, for_cloud, must_exist=False)
    ckpt = request.get("CheckpointConfig")
    if isinstance(ckpt, dict) and isinstance(ckpt.get("S3Uri"), str):
        problems += _check_uri(ckpt["S3Uri"], join_path(prefix, "CheckpointConfig.S3Uri"), spec, for_cloud, must_exist=False)
    rc = request.get("ResourceConfig")
    if isinstance(rc, dict):
        problems += _check_resources(rc, join_path(prefix, "ResourceConfig"), for_cloud)
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
                problems.append(Problem(f"{path}.ChannelName", f"duplicate channel name {name!r} (also {also})"))
            seen.setdefault(name, i)
        source = channel.get("DataSource")
        if isinstance(source, dict):
            problems += _check_data_source(source, f"{path}.DataSource", for_cloud)
        s3 = source.get("S3DataSource") if isinstance(source, dict) else None
        if isinstance(s3, dict) and isinstance(s3.get("S3Uri"), str):
            problems += _check_uri(s3["S3Uri"], f"{path}.DataSource.S3DataSource.S3Uri", spec, for_cloud, must_exist=True)
            data_type = s3.get("S3DataType")
            if not for_cloud and data_type == "AugmentedManifestFile":
                problems.append(Problem(f"{path}.DataSource.S3DataSource.S3DataType", "AugmentedManifestFile is not supported locally (S3Prefix and ManifestFile are)"))
            elif not for_cloud and data_type == "ManifestFile" and s3["S3Uri"].startswith("file://"):
                problems.append(Problem(f"{path}.DataSource.S3DataSource.S3DataType", "ManifestFile needs an s3:// manifest (a file:// channel is a folder or a file)"))
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
                        "EFS and FSx for Lustre file systems are not supported locally; use S3DataSource with an s3:// or file:// URI")]
    return []


def _check_uri(uri: str, path: str, spec: Spec, for_cloud: bool, *, must_exist: bool) -> list[Problem]:
    if uri.startswith("file://"):
        if for_cloud:
            return [Problem(path, "file:// paths work only locally; the cloud needs an s3:// URI")]
        if must_exist and not resolve_file_uri(uri, spec.base_dir).exists():
            return [Problem(path, f"no such file or folder: {resolve_file_uri(uri, spec.base_dir)}")]
        return []
    if not uri.startswith("s3://"):
        return [Problem(path, "must be an s3:// URI (or file:// to run locally)")]
    return []


def _check_resources(rc: dict[str, Any], path: str, for_cloud: bool) -> list[Problem]:
    problems: list[Problem] = []
    itype = rc.get("InstanceType")
    if isinstance(itype, str):
        if itype in _LOCAL_INSTANCE_TYPES and for_cloud:
            problems.append(Problem(f"{path}.InstanceType", f"{itype!r} works only locally; the cloud needs an ml.* instance type"))
        elif instances.lookup(itype) is None and not for_cloud and itype in _cloud_instance_types():
            # a type the cloud knows but smlocal has no size for (the service model's own
            # enum message covers names the cloud does not know)
            problems.append(Problem(f"{path}.InstanceType", f"unknown instance type {itype!r} (smlocal knows local, local_gpu and the common ml.* types)"))
    count = rc.get("InstanceCount")
    if isinstance(count, int) and not isinstance(count, bool):
        # The service model's min is 0 (for InstanceGroups); a job needs a host. Negative
        # counts are already refused by that min.
        if count == 0:
            problems.append(Problem(f"{path}.InstanceCount", "must be at least 1"))
        elif count > MAX_LOCAL_HOSTS and not for_cloud:
            problems.append(Problem(f"{path}.InstanceCount", f"smlocal runs at most {MAX_LOCAL_HOSTS} hosts locally, each a container on this machine (got {count})"))
    if rc.get("InstanceGroups") and not for_cloud:
        problems.append(Problem(f"{path}.InstanceGroups", "heterogeneous clusters are not supported locally"))
    return problems


def _cloud_instance_types() -> frozenset[str]:
    from runner import schema

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
