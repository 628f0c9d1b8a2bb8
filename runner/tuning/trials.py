"""What the tuning core sees of a tuning job's trials: plain values, rebuilt from the store.

Strategies suggest configurations from a history of ``Trial`` values and schedulers decide
continue/stop from it; neither keeps any history of its own, so resuming a tuning job is just
rebuilding this history from the store and asking again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

Value = int | float | str
Config = dict[str, Value]


class TrialStatus(StrEnum):
    """TrainingJobStatus of a trial, plus Pending (suggested, not started yet)."""

    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPED = "Stopped"

    @property
    def running(self) -> bool:
        return self in (TrialStatus.PENDING, TrialStatus.IN_PROGRESS)


@dataclass(frozen=True)
class Trial:
    """One trial: its suggested configuration and what its training job reported so far.

    ``objective`` is the last value of the objective metric (None while none is known or when
    the trial never emitted a finite one); ``intermediate`` every value in order, one per
    emission (one per epoch: Hyperband's unit of resource). ``retryable``: it failed for the
    platform's reasons (an ``InternalServerError``), not its configuration's.
    """

    number: int
    config: Config
    status: TrialStatus
    objective: float | None = None
    intermediate: tuple[float, ...] = field(default_factory=tuple)
    retryable: bool = False

    @property
    def failed_by_config(self) -> bool:
        """Whether its configuration failed it: Failed (not for the platform's reasons), or
        Completed without a finite objective (a NaN loss, a metric never printed)."""
        if self.status is TrialStatus.FAILED:
            return not self.retryable
        return self.status is TrialStatus.COMPLETED and (
            self.objective is None or not math.isfinite(self.objective))

    @property
    def finished(self) -> bool:
        return not self.status.running


class Direction(StrEnum):
    MINIMIZE = "Minimize"
    MAXIMIZE = "Maximize"

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return a < b if self is Direction.MINIMIZE else a > b

    def loss(self, value: float) -> float:
        """The value as something to minimise."""
        return value if self is Direction.MINIMIZE else -value


class Strategy(Protocol):
    """Suggests configurations (``Strategy`` in the tuning request)."""

    def suggest(self, history: Sequence[Trial], count: int) -> list[Config]:
        """Up to ``count`` new configurations given every trial so far (running ones too, so a
        batch for the parallel slots does not repeat them). Fewer, or none, when the space is
        exhausted (Grid). The same history gives the same answer."""
        ...


class Decision(StrEnum):
    CONTINUE = "Continue"
    STOP = "Stop"


class Scheduler(Protocol):
    """Answers continue/stop each time a running trial reports an objective value
    (early stopping ``Auto``; Hyperband)."""

    def on_report(self, trial: Trial, history: Sequence[Trial]) -> Decision:
        """``trial.intermediate[-1]`` is the value just reported; ``history`` holds every
        trial of the job (``trial`` included)."""
        ...


def best_trial(history: Sequence[Trial], direction: Direction) -> Trial | None:
    """The trial with the best final objective among those that have one."""
    best: Trial | None = None
    for trial in history:
        if trial.objective is None or trial.status.running:
            continue
        if best is None or direction.better(trial.objective, best.objective):  # type: ignore[arg-type]
            best = trial
    return best
