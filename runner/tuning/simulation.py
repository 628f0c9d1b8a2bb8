"""A tuning job's schedule replayed on known learning curves, without training anything.

``simulate`` runs one trial per curve, in order, at most ``parallel`` at a time, each advancing
one epoch (one emission of the objective) per tick, and asks the scheduler after every epoch,
exactly as the tuning loop does; it counts the epochs spent. ``synthetic_curves`` makes
repeatable loss curves for it. Used by the tests and by ``benchmarks/early_stopping_sim.py``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

from runner.tuning.trials import Decision, Direction, Scheduler, Trial, TrialStatus, best_trial

__all__ = ["SimResult", "simulate", "synthetic_curves"]


@dataclass(frozen=True)
class SimResult:
    """``epochs_used``: emissions over all trials; ``best_objective``/``best_trial``: the best
    final objective and whose (``best_trial`` of the history); ``stopped``: trials stopped
    before their curve ended; ``epochs_per_trial``: epochs each trial ran, by number."""

    epochs_used: int
    best_objective: float | None
    stopped: int
    epochs_per_trial: tuple[int, ...]
    best_trial: int | None
    trials: tuple[Trial, ...]


def simulate(
    scheduler: Scheduler,
    curves: Sequence[Sequence[float]],
    direction: Direction,
    parallel: int = 1,
) -> SimResult:
    """Run trial ``i`` on ``curves[i]`` (its objective value after each epoch) under
    ``scheduler``. Within a tick the running trials report in number order, each seeing the
    reports made before it. A trial ends Completed when its curve ends (also when the
    scheduler says STOP on that last epoch, as Hyperband does at MaxResource), Stopped when
    the scheduler stops it earlier."""
    if parallel < 1:
        raise ValueError(f"parallel must be >= 1, got {parallel}")
    trials: dict[int, Trial] = {}
    running: list[int] = []
    launched = 0
    while launched < len(curves) or running:
        while len(running) < parallel and launched < len(curves):
            number = launched
            launched += 1
            if curves[number]:
                trials[number] = Trial(number, {}, TrialStatus.IN_PROGRESS)
                running.append(number)
            else:
                trials[number] = Trial(number, {}, TrialStatus.COMPLETED)
        for number in list(running):
            trial = trials[number]
            curve = curves[number]
            values = (*trial.intermediate, float(curve[len(trial.intermediate)]))
            trial = replace(trial, intermediate=values, objective=_last_finite(values))
            trials[number] = trial
            decision = scheduler.on_report(trial, list(trials.values()))
            ended = len(values) >= len(curve)
            if ended or decision is Decision.STOP:
                status = TrialStatus.COMPLETED if ended else TrialStatus.STOPPED
                trials[number] = replace(trial, status=status)
                running.remove(number)
    history = tuple(trials[n] for n in sorted(trials))
    best = best_trial(history, direction)
    return SimResult(
        epochs_used=sum(len(t.intermediate) for t in history),
        best_objective=None if best is None else best.objective,
        stopped=sum(1 for t in history if t.status is TrialStatus.STOPPED),
        epochs_per_trial=tuple(len(t.intermediate) for t in history),
        best_trial=None if best is None else best.number,
        trials=history,
    )


def synthetic_curves(
    count: int,
    epochs: int,
    *,
    seed: int = 0,
    noise: float = 0.01,
    spread: float = 0.3,
    crossing: float = 0.25,
) -> list[list[float]]:
    """``count`` loss curves (to minimise) of ``epochs`` values. Each decays exponentially
    from its start value to its own final value, drawn in [0.1, 0.6], with its own time
    constant, plus Gaussian ``noise`` on every value. The start is ``1 + final`` plus up to
    ``spread``, so the first epoch says something about the final value, but not all;
    time constants range over [1, max(1, crossing * epochs)] epochs, so slow learners with a
    good final value cross fast learners with a worse one (``crossing=0``: no crossing but
    the noise's). The same arguments give the same curves."""
    rng = random.Random(seed)
    curves: list[list[float]] = []
    for _ in range(count):
        final = rng.uniform(0.1, 0.6)
        start = 1.0 + final + rng.uniform(0.0, spread)
        tau = rng.uniform(1.0, max(1.0, crossing * epochs))
        curves.append(
            [
                final + (start - final) * math.exp(-t / tau) + rng.gauss(0.0, noise)
                for t in range(epochs)
            ]
        )
    return curves


def _last_finite(values: Sequence[float]) -> float | None:
    for value in reversed(values):
        if math.isfinite(value):
            return value
    return None
