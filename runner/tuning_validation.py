"""``smlocal validate`` for CreateHyperParameterTuningJob requests: the service model, the
training job definitions as training requests, and the tuning rules."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner import builtin, trial_jobs
from runner.hyperband import hyperband_problems
from runner.problems import Problem, join_path
from runner.schema_cache import validate_request_cached
from runner.search_space import parse_ranges
from runner.specs import Spec
from runner.validation import ImageCheck, check_training_semantics, cloud_view, merge_problems

CONFIG = "HyperParameterTuningJobConfig"
ParentCheck = Callable[[str], bool]
_LOCAL_INSTANCE_TYPES = ("local", "local_gpu")
_CLOUD_INSTANCE_TYPE = "ml.m5.xlarge"  # what cloud_view puts in place of a local type




def tuning_cloud_view(request: dict[str, Any]) -> dict[str, Any]:
    """The request with each definition's local-only values swapped for cloud-valid ones."""
    view = copy.deepcopy(request)
    for key in ("TrainingJobDefinition",):
        if isinstance(view.get(key), dict):
            view[key] = _definition_view(view[key])
    if isinstance(view.get("TrainingJobDefinitions"), list):
        view["TrainingJobDefinitions"] = [
            _definition_view(d) if isinstance(d, dict) else d for d in view["TrainingJobDefinitions"]
        ]
    return view


def _definition_view(definition: dict[str, Any]) -> dict[str, Any]:
    view = cloud_view(definition)
    # cloud_view knows ResourceConfig only; the trials get their ResourceConfig from this one
    hptrc = view.get("HyperParameterTuningResourceConfig")
    if isinstance(hptrc, dict):
        configs = hptrc.get("InstanceConfigs")
        for rc in [hptrc, *(configs if isinstance(configs, list) else [])]:
            if isinstance(rc, dict) and rc.get("InstanceType") in _LOCAL_INSTANCE_TYPES:
                rc["InstanceType"] = _CLOUD_INSTANCE_TYPE
    return view


def validate_tuning(
    spec: Spec,
    *,
    for_cloud: bool = False,
    image_check: ImageCheck | None = None,
    parent_exists: ParentCheck | None = None,
    cache_dir: Path | None = None,
) -> list[Problem]:
    request = spec.request
    general = validate_request_cached(
        request if for_cloud else tuning_cloud_view(request), "CreateHyperParameterTuningJob", cache_dir
    )
    specific: list[Problem] = []
    config = request.get(CONFIG)
    if not isinstance(config, dict):
        return sorted(set(general))
    definitions = trial_jobs.definitions(request)
    if not definitions:
        specific.append(Problem("TrainingJobDefinition", "is required (or TrainingJobDefinitions)"))
    if request.get("TrainingJobDefinition") and request.get("TrainingJobDefinitions"):
        specific.append(Problem("TrainingJobDefinitions", "give TrainingJobDefinition or TrainingJobDefinitions, not both"))
    strategy = config.get("Strategy")
    for name, path, definition in definitions:
        if not isinstance(definition, dict):
            continue
        specific += check_training_semantics(definition, spec, for_cloud=for_cloud, prefix=path)
        if for_cloud and not definition.get("RoleArn"):
            pass  # reported by check_training_semantics
        specific += _check_definition(request, config, name, path, definition, strategy)
        image = (definition.get("AlgorithmSpecification") or {}).get("TrainingImage")
        if image_check is not None and isinstance(image, str) and image and spec.local.build is None and not image_check(image):
            specific.append(Problem(
                join_path(path, "AlgorithmSpecification.TrainingImage"),
                f"image {image!r} is not in the local Docker engine and no Local.Build is given to build it",
            ))
    specific += _check_config(config, definitions)
    specific += builtin.tuning_problems(request)
    specific += _check_warm_start(request.get("WarmStartConfig"), parent_exists)
    return sorted(set(merge_problems(general, specific)))


def _check_definition(
    request: dict[str, Any], config: dict[str, Any], name: str, path: str, definition: dict[str, Any], strategy: Any
) -> list[Problem]:
    problems: list[Problem] = []
    ranges_path = f"{path}.HyperParameterRanges" if definition.get("HyperParameterRanges") else f"{CONFIG}.ParameterRanges"
    ranges = trial_jobs.parameter_ranges(request, definition)
    space, found = parse_ranges(ranges, ranges_path)
    problems += found
    if space is not None:
        if strategy == "Grid" and not space.is_categorical_only:
            problems.append(Problem(f"{CONFIG}.Strategy", "Grid search takes CategoricalParameterRanges only"))
        static = definition.get("StaticHyperParameters") or {}
        for key in sorted(set(static) & set(space.names)):
            problems.append(Problem(f"{path}.StaticHyperParameters.{key}", "is also a tuned range; a hyperparameter is either static or tuned"))
        if not space.names:
            problems.append(Problem(ranges_path, "has no range to tune"))
    objective = trial_jobs.objective(request, definition)
    objective_path = f"{path}.TuningObjective" if definition.get("TuningObjective") else f"{CONFIG}.HyperParameterTuningJobObjective"
    metric = objective.get("MetricName")
    if not objective:
        problems.append(Problem(objective_path, "is required"))
    elif isinstance(metric, str):
        names = [d.get("Name") for d in (definition.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or [] if isinstance(d, dict)]
        if metric not in names:
            known = ", ".join(str(n) for n in names) or "none"
            problems.append(Problem(f"{objective_path}.MetricName", f"{metric!r} is not among the metric definitions of {path}.AlgorithmSpecification.MetricDefinitions (defined: {known})"))
    if strategy == "Hyperband":
        problems += hyperband_problems(config.get("StrategyConfig"), f"{CONFIG}.StrategyConfig",
                                       static_hyperparameters=definition.get("StaticHyperParameters"))
    return problems


def _check_config(config: dict[str, Any], definitions: list[tuple[str, str, dict[str, Any]]]) -> list[Problem]:
    problems: list[Problem] = []
    strategy = config.get("Strategy")
    limits = config.get("ResourceLimits") if isinstance(config.get("ResourceLimits"), dict) else {}
    if strategy == "Hyperband" and config.get("TrainingJobEarlyStoppingType") == "Auto":
        problems.append(Problem(f"{CONFIG}.TrainingJobEarlyStoppingType", "must be Off with the Hyperband strategy (Hyperband stops trials itself)"))
    if strategy != "Grid" and isinstance(limits, dict) and "MaxNumberOfTrainingJobs" not in limits:
        problems.append(Problem(f"{CONFIG}.ResourceLimits.MaxNumberOfTrainingJobs", f"is required with the {strategy} strategy (only Grid defaults it to the number of combinations)"))
    criteria = config.get("TuningJobCompletionCriteria")
    if isinstance(criteria, dict):
        patience = (criteria.get("BestObjectiveNotImproving") or {}).get("MaxNumberOfTrainingJobsNotImproving")
        if isinstance(patience, int) and patience < 3:
            problems.append(Problem(f"{CONFIG}.TuningJobCompletionCriteria.BestObjectiveNotImproving.MaxNumberOfTrainingJobsNotImproving", f"must be at least 3 (got {patience})"))
    return problems


def _check_warm_start(warm: Any, parent_exists: ParentCheck | None) -> list[Problem]:
    if not isinstance(warm, dict) or parent_exists is None:
        return []
    problems = []
    for i, parent in enumerate(warm.get("ParentHyperParameterTuningJobs") or []):
        name = parent.get("HyperParameterTuningJobName") if isinstance(parent, dict) else None
        if isinstance(name, str) and not parent_exists(name):
            problems.append(Problem(f"WarmStartConfig.ParentHyperParameterTuningJobs[{i}].HyperParameterTuningJobName", f"no tuning job {name!r} in this store"))
    return problems
