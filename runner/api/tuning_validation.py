"""``smlocal validate`` for CreateHyperParameterTuningJob requests: the service model, the
training job definitions as training requests, and the tuning rules."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.api import builtin
from runner.api.validation import (
    ImageCheck,
    check_resources,
    check_training_semantics,
    cloud_view,
    merge_problems,
)
from runner.core.problems import Problem, join_path
from runner.core.specs import Spec
from runner.shapes.model_cache import validate_request_cached
from runner.tuning import trial_jobs
from runner.tuning.schedulers.hyperband import hyperband_problems
from runner.tuning.search_space import parse_ranges

CONFIG = "HyperParameterTuningJobConfig"
ParentCheck = Callable[[str], bool]
_LOCAL_INSTANCE_TYPES = ("local", "local_gpu")
_CLOUD_INSTANCE_TYPE = "ml.m5.xlarge"  # what cloud_view puts in place of a local type
_STRATEGIES = ("Bayesian", "Random", "Hyperband", "Grid")


def tuning_cloud_view(request: dict[str, Any]) -> dict[str, Any]:
    """The request with each definition's local-only values swapped for cloud-valid ones."""
    view = copy.deepcopy(request)
    for key in ("TrainingJobDefinition",):
        if isinstance(view.get(key), dict):
            view[key] = _definition_view(view[key])
    if isinstance(view.get("TrainingJobDefinitions"), list):
        view["TrainingJobDefinitions"] = [
            _definition_view(d) if isinstance(d, dict) else d
            for d in view["TrainingJobDefinitions"]
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
        request if for_cloud else tuning_cloud_view(request), "CreateHyperParameterTuningJob",
        cache_dir
    )
    specific: list[Problem] = []
    config = request.get(CONFIG)
    if not isinstance(config, dict):
        return sorted(set(general))
    definitions = trial_jobs.definitions(request)
    if request.get("TrainingJobDefinition") is None and not request.get("TrainingJobDefinitions"):
        specific.append(Problem("TrainingJobDefinition", "is required (or TrainingJobDefinitions)"))
    if request.get("TrainingJobDefinition") and request.get("TrainingJobDefinitions"):
        specific.append(Problem("TrainingJobDefinitions",
                                "give TrainingJobDefinition or TrainingJobDefinitions, not both"))
    strategy = config.get("Strategy")
    names: dict[str, str] = {}
    for name, path, definition in definitions:
        specific += check_training_semantics(definition, spec, for_cloud=for_cloud, prefix=path)
        specific += _check_definition(request, config, path, definition, strategy, for_cloud)
        specific += _check_tuning_resources(definition, path, for_cloud)
        if name in names:
            given = isinstance(definition.get("DefinitionName"), str)
            specific.append(Problem(f"{path}.DefinitionName",
                                    f"duplicate definition name {name!r} (also {names[name]})"
                                    if given else f"is required here: the default name {name!r} is "
                                                  f"taken by {names[name]}"))
        names.setdefault(name, path)
        algo = definition.get("AlgorithmSpecification")
        image = algo.get("TrainingImage") if isinstance(algo, dict) else None
        image_path = join_path(path, "AlgorithmSpecification.TrainingImage")
        # no engine is asked about an image whose reference is already refused (too long, say)
        explained = any(p.path == image_path for p in (*general, *specific))
        if (image_check is not None and isinstance(image, str) and image
                and spec.local.build is None
                and not explained and not image_check(image)):
            specific.append(Problem(image_path, f"image {image!r} is not in the local Docker "
                                                "engine and no Local.Build is given to build it"))
    if request.get("Autotune") is not None and not for_cloud:
        specific.append(Problem("Autotune", "is not supported locally: smlocal runs the request's "
                                            "own HyperParameterTuningJobConfig (remove Autotune to "
                                            "run it here; --for-cloud accepts it)"))
    specific += _check_config(config, definitions)
    specific += builtin.tuning_problems(request)
    # (for the cloud, a parent is the account's: warm_start_notes says what is not here)
    specific += _check_warm_start(request.get("WarmStartConfig"),
                                  None if for_cloud else parent_exists)
    return sorted(set(merge_problems(general, specific)))


def _check_definition(
    request: dict[str, Any], config: dict[str, Any], path: str, definition: dict[str, Any],
    strategy: Any, for_cloud: bool
) -> list[Problem]:
    problems: list[Problem] = []
    own_ranges = definition.get("HyperParameterRanges")
    ranges_path = f"{path}.HyperParameterRanges" if own_ranges else f"{CONFIG}.ParameterRanges"
    space, found = parse_ranges(own_ranges or config.get("ParameterRanges") or {}, ranges_path)
    problems += _for_the_cloud(found, ranges_path, request) if for_cloud else found
    static = definition.get("StaticHyperParameters")
    static = static if isinstance(static, dict) else {}  # the service model reports any other type
    if trial_jobs.OBJECTIVE_HYPERPARAMETER in static:
        problems.append(Problem(f"{path}.StaticHyperParameters.{trial_jobs.OBJECTIVE_HYPERPARAMETER}",
                                "is reserved: every trial gets the objective metric's name in it"))
    if space is not None:
        if strategy == "Grid" and not space.is_categorical_only:
            problems.append(Problem(f"{CONFIG}.Strategy",
                                    "Grid search takes CategoricalParameterRanges only"))
        for key in sorted(set(static) & set(space.names)):
            problems.append(
                Problem(f"{path}.StaticHyperParameters.{key}",
                        "is also a tuned range; a hyperparameter is either static or tuned"))
        if not space.names:
            problems.append(Problem(ranges_path, "has no range to tune"))
    own_objective = definition.get("TuningObjective")
    objective_path = (f"{path}.TuningObjective" if own_objective
                      else f"{CONFIG}.HyperParameterTuningJobObjective")
    raw_objective = own_objective or config.get("HyperParameterTuningJobObjective")
    metric = raw_objective.get("MetricName") if isinstance(raw_objective, dict) else None
    algo = definition.get("AlgorithmSpecification")
    defs = algo.get("MetricDefinitions") if isinstance(algo, dict) else None
    if not raw_objective:
        problems.append(Problem(objective_path, "is required"))
    elif isinstance(metric, str) and isinstance(algo, dict) and isinstance(defs, list | None):
        # (a MetricDefinitions of another type is the service model's to report)
        defined = [d.get("Name") for d in defs or [] if isinstance(d, dict)]
        if metric not in defined:
            known = (", ".join(n if isinstance(n, str) and n.isprintable() else repr(n)
                               for n in defined) or "none")
            problems.append(
                Problem(f"{objective_path}.MetricName",
                        f"{metric!r} is not among the metric definitions of "
                        f"{path}.AlgorithmSpecification.MetricDefinitions (defined: {known})"))
    if strategy == "Hyperband":
        problems += hyperband_problems(config.get("StrategyConfig"), f"{CONFIG}.StrategyConfig",
                                       static_hyperparameters=static)
    return problems


def _check_tuning_resources(
    definition: dict[str, Any], path: str, for_cloud: bool
) -> list[Problem]:
    """Each trial's hosts: from ResourceConfig or HyperParameterTuningResourceConfig (its
    first InstanceConfig when it lists several), exactly one of them given."""
    rc, hptrc = (definition.get("ResourceConfig"),
                 definition.get("HyperParameterTuningResourceConfig"))
    hptrc_path = f"{path}.HyperParameterTuningResourceConfig"
    if rc is None and hptrc is None:
        return [Problem(f"{path}.ResourceConfig",
                        "is required (or HyperParameterTuningResourceConfig)")]
    if rc is not None and hptrc is not None:
        return [Problem(hptrc_path,
                        "give ResourceConfig or HyperParameterTuningResourceConfig, not both")]
    if not isinstance(hptrc, dict):
        # ResourceConfig: checked as a training request's; other types: the service model's
        return []
    configs = hptrc.get("InstanceConfigs")
    if isinstance(configs, list) and configs:
        return [p for i, c in enumerate(configs) if isinstance(c, dict)
                for p in check_resources(c, f"{hptrc_path}.InstanceConfigs[{i}]", for_cloud)]
    return check_resources(hptrc, hptrc_path, for_cloud)


def _check_config(
    config: dict[str, Any], definitions: list[tuple[str, str, dict[str, Any]]]
) -> list[Problem]:
    problems: list[Problem] = []
    strategy = config.get("Strategy")
    limits = config.get("ResourceLimits")
    if strategy == "Hyperband" and config.get("TrainingJobEarlyStoppingType") == "Auto":
        problems.append(
            Problem(f"{CONFIG}.TrainingJobEarlyStoppingType",
                    "must be Off with the Hyperband strategy (Hyperband stops trials itself)"))
    if (strategy in _STRATEGIES and strategy != "Grid" and isinstance(limits, dict)
            and "MaxNumberOfTrainingJobs" not in limits):
        problems.append(Problem(f"{CONFIG}.ResourceLimits.MaxNumberOfTrainingJobs",
                                f"is required with the {strategy} strategy (only Grid defaults it "
                                "to the number of combinations)"))
    if (strategy in _STRATEGIES and strategy != "Hyperband"
            and config.get("StrategyConfig") is not None):
        problems.append(Problem(f"{CONFIG}.StrategyConfig",
                                f"is only for the Hyperband strategy (Strategy is {strategy})"))
    criteria = config.get("TuningJobCompletionCriteria")
    if isinstance(criteria, dict):
        not_improving = criteria.get("BestObjectiveNotImproving")
        patience = (not_improving.get("MaxNumberOfTrainingJobsNotImproving")
                    if isinstance(not_improving, dict) else None)
        if isinstance(patience, int) and patience < 3:
            problems.append(Problem(f"{CONFIG}.TuningJobCompletionCriteria.BestObjectiveNotImproving"
                                    ".MaxNumberOfTrainingJobsNotImproving",
                                    f"must be at least 3 (got {patience})"))
        target = criteria.get("TargetObjectiveMetricValue")
        if isinstance(target, float) and not math.isfinite(target):
            problems.append(
                Problem(f"{CONFIG}.TuningJobCompletionCriteria.TargetObjectiveMetricValue",
                        f"must be a finite number (got {target})"))
    return problems


def _for_the_cloud(found: list[Problem], ranges_path: str,
                   request: dict[str, Any]) -> list[Problem]:
    """The ranges' problems as the cloud judges them: with Autotune, SageMaker chooses the
    ranges itself (AutoParameters hint them; explicit ranges may be none); without it,
    AutoParameters are refused as the service refuses them."""
    auto = join_path(ranges_path, "AutoParameters")
    if request.get("Autotune") is not None:
        return [p for p in found
                if p.path != auto and p.message != "at least one parameter range is required"]
    return [Problem(auto, "is taken only with Autotune (AutoParameters hint the ranges Autotune "
                          "chooses)") if p.path == auto else p for p in found]


def warm_start_notes(request: dict[str, Any], parent_exists: ParentCheck) -> list[Problem]:
    """For ``--for-cloud``: the warm-start parents not in this store, which only the account
    can have (a note, not a refusal: the cloud looks them up there)."""
    warm = request.get("WarmStartConfig")
    return [Problem(p.path, f"{p.message}: for the cloud it must be a tuning job of the "
                            "account (smlocal cannot see that)")
            for p in _check_warm_start(warm, parent_exists)]


def _check_warm_start(warm: Any, parent_exists: ParentCheck | None) -> list[Problem]:
    if not isinstance(warm, dict) or parent_exists is None:
        return []
    problems = []
    parents = warm.get("ParentHyperParameterTuningJobs")
    # else: the service model's
    for i, parent in enumerate(parents if isinstance(parents, list) else []):
        name = parent.get("HyperParameterTuningJobName") if isinstance(parent, dict) else None
        if isinstance(name, str) and not parent_exists(name):
            problems.append(Problem(
                f"WarmStartConfig.ParentHyperParameterTuningJobs[{i}].HyperParameterTuningJobName",
                f"no tuning job {name!r} in this store"))
    return problems
