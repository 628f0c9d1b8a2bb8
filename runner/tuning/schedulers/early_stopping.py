"""Early stopping of a tuning job's trials: ``TrainingJobEarlyStoppingType`` Off and Auto.

``Auto`` is SageMaker's median stopping rule, as its developer guide describes it: after each
epoch of a training job, compute for every previous training job the running average of its
objective up to the same epoch, take the median of those averages, and stop the job if its
current value is worse than that median.

The conventions this module fixes where the guide is silent:

- "previous training jobs" are the trials with a smaller ``number`` (created earlier), of any
  status: running ones included (with parallel trials an earlier one may still be running),
  stopped and failed ones included (the values they emitted are real points of their curves).
- A previous trial takes part at epoch ``e`` only once it has emitted at least ``e`` values; its
  running average is the mean of its first ``e`` values. Epochs are positions in
  ``Trial.intermediate`` (one emission = one epoch).
- Non-finite values (nan, +-inf) are ignored: they are left out of a running average (a trial
  whose first ``e`` values are all non-finite does not take part), and a non-finite current
  value is never a reason to stop.
- ``min_trials`` (default 3; SageMaker does not publish its number): no decision until at
  least this many previous trials take part at the epoch. With one or two the "median" is one
  curve's average (or the mean of two) and stops trials on the noise of a single run; three
  is the smallest count with a true middle value. The median of an even count is the mean of
  the two middle values (``statistics.median``).
- ``min_epochs`` (default 1): no decision before this epoch.
- "Worse" is strict (``Direction.better(median, current)``): a value equal to the median
  continues.

The rule keeps no state: the decision is a function of the trial and the history only, so a
resumed tuning job that rebuilds its history decides exactly as before.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from runner.tuning.trials import Decision, Direction, Trial

__all__ = ["DEFAULT_MIN_EPOCHS", "DEFAULT_MIN_TRIALS", "MedianStoppingRule", "NoEarlyStopping"]

DEFAULT_MIN_TRIALS = 3
DEFAULT_MIN_EPOCHS = 1


class NoEarlyStopping:
    """``TrainingJobEarlyStoppingType=Off``: every trial runs until it ends by itself."""

    def on_report(self, trial: Trial, history: Sequence[Trial]) -> Decision:
        return Decision.CONTINUE


class MedianStoppingRule:
    """``TrainingJobEarlyStoppingType=Auto``: stop a trial whose current value is worse than the
    median of the previous trials' running averages up to the same epoch."""

    def __init__(
        self,
        direction: Direction,
        *,
        min_trials: int = DEFAULT_MIN_TRIALS,
        min_epochs: int = DEFAULT_MIN_EPOCHS,
    ) -> None:
        if min_trials < 1:
            raise ValueError(f"min_trials must be >= 1, got {min_trials}")
        if min_epochs < 1:
            raise ValueError(f"min_epochs must be >= 1, got {min_epochs}")
        self.direction = direction
        self.min_trials = min_trials
        self.min_epochs = min_epochs

    def median_at(self, trial: Trial, history: Sequence[Trial]) -> float | None:
        """The median of the previous trials' running averages at ``trial``'s current epoch, or
        None while fewer than ``min_trials`` previous trials have reached that epoch."""
        epoch = len(trial.intermediate)
        if epoch == 0:
            return None
        averages = [
            average
            for other in history
            if other.number < trial.number and len(other.intermediate) >= epoch
            for average in [running_average(other.intermediate, epoch)]
            if average is not None
        ]
        if len(averages) < self.min_trials:
            return None
        return statistics.median(averages)

    def on_report(self, trial: Trial, history: Sequence[Trial]) -> Decision:
        epoch = len(trial.intermediate)
        if epoch < self.min_epochs:
            return Decision.CONTINUE
        current = trial.intermediate[-1]
        if not math.isfinite(current):
            return Decision.CONTINUE
        median = self.median_at(trial, history)
        if median is not None and self.direction.better(median, current):
            return Decision.STOP
        return Decision.CONTINUE


def running_average(values: Sequence[float], epoch: int) -> float | None:
    """The mean of the finite values among the first ``epoch`` ones; None when there is none."""
    finite = [v for v in values[:epoch] if math.isfinite(v)]
    return math.fsum(finite) / len(finite) if finite else None
