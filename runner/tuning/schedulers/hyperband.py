"""SageMaker's ``Hyperband`` strategy as asynchronous successive halving (ASHA).

Li et al. 2020, "A System for Massively Parallel Hyperparameter Tuning", in its stopping form
(Syne Tune's ``HyperbandScheduler(type="stopping")``, Ray Tune's ``ASHAScheduler``): every
trial starts as if it would run to ``MaxResource``; when it reaches a rung it is compared with
every trial that reached the same rung before it, and it goes on only if it is in the top
``1/eta`` of them.

- Resource = epochs = emissions of the objective metric (``len(Trial.intermediate)``).
- Rungs: ``MinResource * eta**k`` for k = 0, 1, ... while below ``MaxResource``
  (``rung_levels``). A trial is never stopped before ``MinResource`` (as the API says).
- ``eta`` = 3: SageMaker does not expose its reduction factor; 3 is the value of the ASHA and
  Hyperband papers and the default of Syne Tune and Ray Tune.
- At rung ``r``, the decision is taken once, on the report that makes ``len(intermediate) ==
  r`` (the caller must ask on every emission, as the ``Scheduler`` protocol says). The field
  is every trial of the history, of any status, that has a finite value at position ``r``,
  the trial itself included: ``n`` values. With ``n < eta`` the trial continues (ASHA promotes
  ``floor(n / eta)`` trials out of a rung: none is "in the top" yet, and stopping on one or
  two earlier values would stop trials on noise). Otherwise it continues only if fewer than
  ``floor(n / eta)`` values are strictly better than its own (ties at the boundary continue).
- Non-finite values are ignored: another trial's nan/inf at ``r`` is left out of the field,
  and a trial whose own value at ``r`` is non-finite continues (as Ray's ASHA does).
- ``len(intermediate) >= MaxResource``: STOP, the trial has had its full budget.

ASHA keeps no state beyond the history, so a resumed tuning job replays to the same decisions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from runner.core.problems import Problem, SpecError, join_path
from runner.tuning.trials import Decision, Direction, Trial

__all__ = [
    "DEFAULT_ETA",
    "DEFAULT_MIN_RESOURCE",
    "EPOCH_HYPERPARAMETERS",
    "MAX_RESOURCE_LIMIT",
    "HyperbandScheduler",
    "hyperband_problems",
    "hyperband_resources",
    "rung_levels",
]

DEFAULT_ETA = 3
DEFAULT_MIN_RESOURCE = 1
MAX_RESOURCE_LIMIT = 20_000
# Where SageMaker looks for MaxResource when the request leaves it out.
EPOCH_HYPERPARAMETERS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")


def rung_levels(min_resource: int, max_resource: int, eta: int = DEFAULT_ETA) -> list[int]:
    """``[min_resource * eta**k for k >= 0 while < max_resource]``."""
    if min_resource < 1:
        raise ValueError(f"min_resource must be >= 1, got {min_resource}")
    if max_resource <= min_resource:
        raise ValueError(
            f"max_resource must be > min_resource ({min_resource}), got {max_resource}"
        )
    if eta < 2:
        raise ValueError(f"eta must be >= 2, got {eta}")
    levels: list[int] = []
    level = min_resource
    while level < max_resource:
        levels.append(level)
        level *= eta
    return levels


class HyperbandScheduler:
    """ASHA, stopping variant: see the module's docstring for the conventions."""

    def __init__(
        self, direction: Direction, min_resource: int, max_resource: int, eta: int = DEFAULT_ETA
    ) -> None:
        self.direction = direction
        self.min_resource = min_resource
        self.max_resource = max_resource
        self.eta = eta
        self.rungs = rung_levels(min_resource, max_resource, eta)
        self._rung_set = frozenset(self.rungs)

    @classmethod
    def from_request(
        cls,
        strategy_config: Mapping[str, Any] | None,
        direction: Direction,
        *,
        static_hyperparameters: Mapping[str, Any] | None = None,
        path: str = "HyperParameterTuningJobConfig.StrategyConfig",
    ) -> HyperbandScheduler:
        """The scheduler for a request's ``StrategyConfig``; ``SpecError`` when it is invalid."""
        problems = hyperband_problems(
            strategy_config, path, static_hyperparameters=static_hyperparameters
        )
        if problems:
            raise SpecError(problems)
        low, high = hyperband_resources(strategy_config, static_hyperparameters)
        assert high is not None
        return cls(direction, low, high)

    def on_report(self, trial: Trial, history: Sequence[Trial]) -> Decision:
        resource = len(trial.intermediate)
        if resource >= self.max_resource:
            return Decision.STOP
        if resource not in self._rung_set:
            return Decision.CONTINUE
        value = trial.intermediate[-1]
        if not math.isfinite(value):
            return Decision.CONTINUE
        field = rung_values(resource, history, exclude=trial.number)
        field.append(value)
        keep = len(field) // self.eta
        if keep == 0:
            return Decision.CONTINUE
        better = sum(1 for other in field if self.direction.better(other, value))
        return Decision.CONTINUE if better < keep else Decision.STOP


def rung_values(rung: int, history: Sequence[Trial], *, exclude: int | None = None) -> list[float]:
    """The finite values at position ``rung`` (1-based) of every trial that reached it."""
    return [
        value
        for trial in history
        if trial.number != exclude and len(trial.intermediate) >= rung
        for value in [trial.intermediate[rung - 1]]
        if math.isfinite(value)
    ]


def hyperband_resources(
    strategy_config: Mapping[str, Any] | None,
    static_hyperparameters: Mapping[str, Any] | None = None,
) -> tuple[int, int | None]:
    """``(MinResource, MaxResource)`` with the defaults filled in: MinResource 1 (our choice;
    the API documents none), MaxResource from the first of ``EPOCH_HYPERPARAMETERS`` found in
    the static hyperparameters (as SageMaker infers it), None when there is none.
    Values are taken as given; ``hyperband_problems`` says whether they are valid."""
    config = _hyperband_config(strategy_config)
    low = config.get("MinResource", DEFAULT_MIN_RESOURCE)
    high = config.get("MaxResource")
    if high is None:
        high = _inferred_max_resource(static_hyperparameters)
    return low, high


def hyperband_problems(
    strategy_config: Mapping[str, Any] | None,
    path: str,
    *,
    static_hyperparameters: Mapping[str, Any] | None = None,
) -> list[Problem]:
    """What is wrong with a Hyperband ``StrategyConfig`` found at ``path``: MinResource >= 1,
    MaxResource <= 20000 (given, or inferred from ``static_hyperparameters``), Min < Max."""
    base = join_path(path, "HyperbandStrategyConfig")
    if strategy_config is not None and not isinstance(strategy_config, Mapping):
        return [Problem(path, "must be a mapping")]
    raw = (strategy_config or {}).get("HyperbandStrategyConfig")
    if raw is not None and not isinstance(raw, Mapping):
        return [Problem(base, "must be a mapping")]
    problems: list[Problem] = []
    low, high = hyperband_resources(strategy_config, static_hyperparameters)
    low_path, high_path = join_path(base, "MinResource"), join_path(base, "MaxResource")
    inferred = (
        ""
        if "MaxResource" in _hyperband_config(strategy_config)
        else " (from StaticHyperParameters)"
    )
    if not _is_int(low):
        problems.append(Problem(low_path, f"must be an integer, got {low!r}"))
    elif low < 1:
        problems.append(Problem(low_path, f"must be >= 1, got {low}"))
    if high is None:
        keys = ", ".join(EPOCH_HYPERPARAMETERS)
        problems.append(
            Problem(high_path, f"is required unless StaticHyperParameters sets one of {keys}")
        )
    elif not _is_int(high):
        problems.append(Problem(high_path, f"must be an integer, got {high!r}{inferred}"))
    elif high > MAX_RESOURCE_LIMIT:
        problems.append(
            Problem(high_path, f"must be <= {MAX_RESOURCE_LIMIT}, got {high}{inferred}")
        )
    elif high < 1:
        problems.append(Problem(high_path, f"must be >= 1, got {high}{inferred}"))
    elif _is_int(low) and low >= 1 and high <= low:
        problems.append(
            Problem(high_path, f"must be greater than MinResource ({low}), got {high}{inferred}")
        )
    return problems


def _hyperband_config(strategy_config: Mapping[str, Any] | None) -> Mapping[str, Any]:
    raw = (strategy_config or {}).get("HyperbandStrategyConfig")
    return raw if isinstance(raw, Mapping) else {}


def _inferred_max_resource(static_hyperparameters: Mapping[str, Any] | None) -> int | None:
    for key in EPOCH_HYPERPARAMETERS:
        raw = (static_hyperparameters or {}).get(key)
        if raw is None:
            continue
        try:
            value = int(str(raw).strip())
        except ValueError:
            continue
        return value
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
