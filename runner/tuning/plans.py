"""The plans of a tuning job (pure): for each training job definition, its search space,
strategy, objective and scheduler (early stopping or Hyperband), built from the request."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from runner.tuning import trial_jobs
from runner.tuning.schedulers.early_stopping import MedianStoppingRule, NoEarlyStopping
from runner.tuning.schedulers.hyperband import HyperbandScheduler
from runner.tuning.search_space import SearchSpace, parse_ranges
from runner.tuning.strategies import make_strategy
from runner.tuning.trials import Direction, Scheduler, Strategy


@dataclass
class Plan:
    """One training job definition: its space, strategy, objective and scheduler."""

    name: str
    path: str
    definition: dict[str, Any]
    space: SearchSpace
    strategy: Strategy
    direction: Direction
    metric: str
    scheduler: Scheduler


def seed_of(request: dict[str, Any]) -> int:
    seed = request["HyperParameterTuningJobConfig"].get("RandomSeed")
    if seed is not None:
        return int(seed)
    digest = hashlib.sha256(request["HyperParameterTuningJobName"].encode()).digest()
    return int.from_bytes(digest[:4], "big")


def make_plans(request: dict[str, Any]) -> list[Plan]:
    config = request["HyperParameterTuningJobConfig"]
    strategy_name = config.get("Strategy", "Bayesian")
    limits = config.get("ResourceLimits") or {}
    plans = []
    definitions = list(trial_jobs.definitions(request))
    for name, path, definition in definitions:
        space, problems = parse_ranges(trial_jobs.parameter_ranges(request, definition),
                                       f"{path}.HyperParameterRanges")
        assert space is not None and not problems, problems
        objective = trial_jobs.objective(request, definition)
        direction = Direction(objective.get("Type", "Minimize"))
        scheduler: Scheduler = NoEarlyStopping()
        if strategy_name == "Hyperband":
            scheduler = HyperbandScheduler.from_request(
                config.get("StrategyConfig"), direction,
                static_hyperparameters=definition.get("StaticHyperParameters"),
            )
        elif config.get("TrainingJobEarlyStoppingType") == "Auto":
            scheduler = MedianStoppingRule(direction)
        strategy = make_strategy(
            strategy_name, space, direction,  # Hyperband: random draws, its scheduler decides
            seed=seed_of(request), max_jobs=limits.get("MaxNumberOfTrainingJobs"),
            config=config.get("StrategyConfig") or {},
            parallel=int(limits.get("MaxParallelTrainingJobs", 1)), definitions=len(definitions),
        )
        plans.append(Plan(name, path, definition, space, strategy, direction,
                          objective["MetricName"], scheduler))
    return plans


def max_jobs(request: dict[str, Any], plans: list[Plan]) -> int:
    limits = request["HyperParameterTuningJobConfig"].get("ResourceLimits") or {}
    if limits.get("MaxNumberOfTrainingJobs"):
        return int(limits["MaxNumberOfTrainingJobs"])
    sizes = [p.space.size for p in plans]
    return sum(s for s in sizes if s) or 1  # Grid: every combination
