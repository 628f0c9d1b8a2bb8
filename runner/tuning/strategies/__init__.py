"""Search strategies (``HyperParameterTuningJobConfig.Strategy``) behind one factory.

Every strategy is a pure function of the history and the seed (see
``runner.tuning.trials.Strategy``): resuming a tuning job replays the same suggestions.
"""

from __future__ import annotations

from typing import Any

from runner.tuning.search_space import SearchSpace
from runner.tuning.strategies.grid import GridSearch
from runner.tuning.strategies.random_search import RandomSearch
from runner.tuning.trials import Direction, Strategy

STRATEGIES = ("Bayesian", "Random", "Grid", "Hyperband")

__all__ = ["STRATEGIES", "GridSearch", "RandomSearch", "make_strategy"]


def make_strategy(
    name: str,
    space: SearchSpace,
    direction: Direction,
    *,
    seed: int,
    max_jobs: int | None,
    config: dict[str, Any],
    parallel: int = 1,
    definitions: int = 1,
) -> Strategy:
    """The strategy named in the request. Hyperband's configurations are random draws (its
    scheduler decides how long each runs); ``config`` is the request's ``StrategyConfig``.
    Raises ValueError for an unknown name or a Grid over a space that is not categorical-only.
    """
    del config  # no strategy here reads StrategyConfig (Hyperband's belongs to its scheduler)
    if name == "Grid":
        return GridSearch(space)
    if name in ("Random", "Hyperband"):
        return RandomSearch(space, seed=seed)
    if name == "Bayesian":  # (its model imports scipy: ~1 s a process that never needs it)
        from runner.tuning.strategies.bayesian import BayesianSearch

        return BayesianSearch(space, direction, seed=seed, max_jobs=max_jobs, slots=parallel,
                              definitions=definitions)
    raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}")
