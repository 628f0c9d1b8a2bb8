"""smlocal's built-in algorithms (``algorithms/*/manifest.json``), as the runner sees them:
a request naming a built-in image needs no MetricDefinitions, and its hyperparameters are
checked against the manifest before any container starts."""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from runner.core.problems import Problem, join_path
from runner.tuning import trial_jobs

_PACKAGE = Path(__file__).resolve().parents[1]  # runner/
_RULES = Path("common", "hyperparameters.py")


def _algorithms_dir() -> Path | None:
    """Where the built-in algorithms are: ``runner/algorithms`` in an installed wheel (setup.py
    installs the repository's ``algorithms/`` there), else ``algorithms/`` beside the ``runner``
    package, as in a checkout or an editable install of one."""
    for candidate in (_PACKAGE / "algorithms", _PACKAGE.parent / "algorithms"):
        if (candidate / _RULES).is_file():
            return candidate
    return None


ALGORITHMS_DIR = _algorithms_dir()


@functools.cache
def manifests() -> dict[str, dict[str, Any]]:
    """Manifests by TrainingImage (empty when the algorithms were not found)."""
    out: dict[str, dict[str, Any]] = {}
    paths = sorted(ALGORITHMS_DIR.glob("*/manifest.json")) if ALGORITHMS_DIR is not None else []
    for path in paths:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        out[manifest["TrainingImage"]] = manifest
    return out


def manifest_for(image: Any) -> dict[str, Any] | None:
    return manifests().get(image) if isinstance(image, str) else None


@functools.cache
def _hyperparameters_module() -> ModuleType:
    """algorithms/common/hyperparameters.py, loaded by path: the very code the containers run.
    (Only called for a request naming a built-in, so the algorithms were found.)"""
    assert ALGORITHMS_DIR is not None
    path = ALGORITHMS_DIR / _RULES
    spec = importlib.util.spec_from_file_location("smlocal_builtin_hyperparameters", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def with_metric_definitions(algorithm: dict[str, Any]) -> dict[str, Any]:
    """An AlgorithmSpecification with the built-in's MetricDefinitions when it has none."""
    manifest = manifest_for(algorithm.get("TrainingImage"))
    if manifest is None or algorithm.get("MetricDefinitions"):
        return algorithm
    return {**algorithm, "MetricDefinitions": copy.deepcopy(manifest["MetricDefinitions"])}


def complete(request: dict[str, Any]) -> dict[str, Any]:
    """The request (training or tuning) with built-in MetricDefinitions filled in."""
    return map_algorithms(request, with_metric_definitions)


def map_algorithms(request: dict[str, Any],
                   change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """A copy of the request (training or tuning) with ``change`` applied to each
    AlgorithmSpecification in it: its own, its TrainingJobDefinition's, and each of its
    TrainingJobDefinitions' (entries that are not mappings are left as they are)."""
    out = dict(request)
    if isinstance(out.get("AlgorithmSpecification"), dict):
        out["AlgorithmSpecification"] = change(out["AlgorithmSpecification"])
    for key in ("TrainingJobDefinition",):
        if (isinstance(out.get(key), dict) and isinstance(out[key].get("AlgorithmSpecification"),
                                                          dict)):
            out[key] = {**out[key], "AlgorithmSpecification": change(
                out[key]["AlgorithmSpecification"])}
    if isinstance(out.get("TrainingJobDefinitions"), list):
        out["TrainingJobDefinitions"] = [
            {**d, "AlgorithmSpecification": change(d["AlgorithmSpecification"])}
            if isinstance(d, dict) and isinstance(d.get("AlgorithmSpecification"), dict) else d
            for d in out["TrainingJobDefinitions"]
        ]
    return out


def training_problems(request: dict[str, Any]) -> list[Problem]:
    """A training request's hyperparameters against its built-in algorithm's manifest."""
    algorithm = request.get("AlgorithmSpecification")
    manifest = manifest_for(algorithm.get("TrainingImage")) if isinstance(algorithm, dict) else None
    hps = request.get("HyperParameters") or {}
    if manifest is None or not isinstance(hps, dict):
        return []
    found = _hyperparameters_module().validate_hyperparameters(manifest, _named(hps))
    return [Problem(join_path("HyperParameters", name), message) for name, message in found]


def tuning_problems(request: dict[str, Any]) -> list[Problem]:
    """Each definition's static hyperparameters and ranges against its manifest: known names,
    valid static values, tunable ranges inside the algorithm's bounds, every required
    hyperparameter either static or tuned."""
    problems: list[Problem] = []
    module = None
    for _, path, definition in trial_jobs.definitions(request):
        algorithm = definition.get("AlgorithmSpecification")
        manifest = (manifest_for(algorithm.get("TrainingImage")) if isinstance(algorithm, dict)
                    else None)
        if manifest is None:
            continue
        module = module or _hyperparameters_module()
        specs = module.specs_by_name(manifest)
        static = definition.get("StaticHyperParameters")
        # (the service model reports any other type)
        static = _named(static) if isinstance(static, dict) else {}
        ranges = trial_jobs.parameter_ranges(request, definition)
        tuned = {r.get("Name") for kind in ranges.values() if isinstance(kind, list) for r in kind
                 if isinstance(r, dict) and isinstance(r.get("Name"), str)}
        for name, message in module.validate_hyperparameters(manifest, static):
            if message == "is required" and name in tuned:
                continue
            problems.append(Problem(join_path(f"{path}.StaticHyperParameters", name), message))
        ranges_path = (f"{path}.HyperParameterRanges" if definition.get("HyperParameterRanges")
                       else "HyperParameterTuningJobConfig.ParameterRanges")
        problems += _range_problems(module, specs, ranges, ranges_path)
    return problems


def _named(hps: dict[Any, Any]) -> dict[str, Any]:
    """The hyperparameters named by strings (the service model reports a key of another type,
    such as YAML's 1 or null)."""
    return {name: value for name, value in hps.items() if isinstance(name, str)}


def _range_problems(
    module: ModuleType, specs: dict[str, Any], ranges: dict[str, Any], path: str
) -> list[Problem]:
    problems: list[Problem] = []
    for kind, entries in ranges.items():
        if not isinstance(entries, list):
            continue
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not isinstance(entry.get("Name"), str):
                continue
            where = f"{path}.{kind}[{i}]"
            spec = specs.get(entry["Name"])
            if spec is None:
                problems.append(Problem(f"{where}.Name",
                                        f"{entry['Name']!r} is not a hyperparameter of this "
                                        f"algorithm (known: {', '.join(sorted(specs))})"))
                continue
            if not spec.get("IsTunable", True):
                problems.append(Problem(f"{where}.Name",
                                        f"{entry['Name']!r} is not tunable for this algorithm"))
                continue
            if kind == "CategoricalParameterRanges":
                values = entry.get("Values")
                pairs = [(f"Values[{j}]", v)
                         for j, v in enumerate(values if isinstance(values, list) else [])]
            else:
                pairs = [("MinValue", entry.get("MinValue")), ("MaxValue", entry.get("MaxValue"))]
            for key, value in pairs:
                if not isinstance(value, str):
                    continue
                _, problem = module.convert(spec, module.normalize_value(value))
                if problem:
                    problems.append(Problem(f"{where}.{key}", f"{value!r}: {problem}"))
    return problems
