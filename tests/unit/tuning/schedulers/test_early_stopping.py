"""Tests for runner.tuning.schedulers.early_stopping (median stopping rule) and
runner.tuning.simulation."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest

from runner.tuning.schedulers.early_stopping import (
    MedianStoppingRule,
    NoEarlyStopping,
    running_average,
)
from runner.tuning.simulation import simulate, synthetic_curves
from runner.tuning.trials import Decision, Direction, Trial, TrialStatus

MIN = Direction.MINIMIZE
MAX = Direction.MAXIMIZE
NAN = math.nan
INF = math.inf


def trial(
    number: int, values: Sequence[float], status: TrialStatus = TrialStatus.COMPLETED
) -> Trial:
    finite = [v for v in values if math.isfinite(v)]
    return Trial(number, {}, status, finite[-1] if finite else None, tuple(values))


def running(number: int, values: Sequence[float]) -> Trial:
    return trial(number, values, TrialStatus.IN_PROGRESS)


# Running averages at epoch 2: 0.9, 0.8, 1.5 -> median 0.9.
EARLIER = [trial(0, [1.0, 0.8, 0.6]), trial(1, [1.0, 0.6, 0.4]), trial(2, [2.0, 1.0, 0.5])]


def negated(t: Trial) -> Trial:
    return trial(t.number, [-v for v in t.intermediate], t.status)


def decide(rule: MedianStoppingRule, current: Trial, others: Sequence[Trial]) -> Decision:
    return rule.on_report(current, [*others, current])


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1.0, 0.95], Decision.STOP),  # worse than the median 0.9
        ([1.0, 0.9], Decision.CONTINUE),  # equal: not worse
        ([1.0, 0.85], Decision.CONTINUE),
        ([9.0, 0.85], Decision.CONTINUE),  # only the current value counts, not its own average
    ],
)
def test_stops_below_the_median_of_running_averages(
    values: list[float], expected: Decision
) -> None:
    rule = MedianStoppingRule(MIN)
    assert rule.median_at(running(3, values), EARLIER) == pytest.approx(0.9)
    assert decide(rule, running(3, values), EARLIER) is expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([-1.0, -0.95], Decision.STOP),
        ([-1.0, -0.9], Decision.CONTINUE),
        ([-1.0, -0.85], Decision.CONTINUE),
    ],
)
def test_maximize_mirrors_minimize(values: list[float], expected: Decision) -> None:
    rule = MedianStoppingRule(MAX)
    assert decide(rule, running(3, values), [negated(t) for t in EARLIER]) is expected


def test_no_decision_below_min_trials() -> None:
    hopeless = running(3, [5.0, 5.0])
    assert decide(MedianStoppingRule(MIN), hopeless, EARLIER[:2]) is Decision.CONTINUE
    assert decide(MedianStoppingRule(MIN), hopeless, EARLIER) is Decision.STOP
    assert decide(MedianStoppingRule(MIN, min_trials=2), hopeless, EARLIER[:2]) is Decision.STOP
    assert decide(MedianStoppingRule(MIN, min_trials=4), hopeless, EARLIER) is Decision.CONTINUE


def test_no_decision_before_min_epochs() -> None:
    rule = MedianStoppingRule(MIN, min_epochs=3)
    assert decide(rule, running(3, [5.0, 5.0]), EARLIER) is Decision.CONTINUE
    assert decide(rule, running(3, [5.0, 5.0, 5.0]), EARLIER) is Decision.STOP
    assert decide(MedianStoppingRule(MIN), running(3, [5.0]), EARLIER) is Decision.STOP


def test_only_earlier_trials_take_part() -> None:
    later = [trial(7, [0.1, 0.1, 0.1]), trial(8, [0.1, 0.1, 0.1]), trial(9, [0.1, 0.1])]
    # Trials 7..9 would put the median at 0.1 and stop trial 3; they came after it.
    assert (
        decide(MedianStoppingRule(MIN), running(3, [1.0, 0.85]), [*EARLIER, *later])
        is Decision.CONTINUE
    )
    # Two earlier trials only: no decision at all.
    assert (
        decide(MedianStoppingRule(MIN), running(3, [5.0, 5.0]), [*EARLIER[:2], *later])
        is Decision.CONTINUE
    )


def test_trials_that_did_not_reach_the_epoch_are_left_out() -> None:
    short = trial(3, [0.1], TrialStatus.STOPPED)
    rule = MedianStoppingRule(MIN)
    # At epoch 2 the stopped trial (one value) does not take part: still the median 0.9.
    assert rule.median_at(running(4, [1.0, 0.95]), [*EARLIER, short]) == pytest.approx(0.9)
    # At epoch 1 it does: averages 1.0, 1.0, 2.0, 0.1 -> median 1.0.
    assert rule.median_at(running(4, [1.05]), [*EARLIER, short]) == pytest.approx(1.0)
    assert decide(rule, running(4, [1.05]), [*EARLIER, short]) is Decision.STOP


def test_even_count_median_is_the_mean_of_the_middle_two() -> None:
    fourth = trial(3, [0.0, 1.2])  # averages 0.9, 0.8, 1.5, 0.6 -> (0.8 + 0.9) / 2
    rule = MedianStoppingRule(MIN)
    assert rule.median_at(running(4, [1.0, 0.86]), [*EARLIER, fourth]) == pytest.approx(0.85)
    assert decide(rule, running(4, [1.0, 0.86]), [*EARLIER, fourth]) is Decision.STOP
    assert decide(rule, running(4, [1.0, 0.84]), [*EARLIER, fourth]) is Decision.CONTINUE


def test_any_status_takes_part_running_ones_included() -> None:
    others = [
        running(0, [1.0, 0.8]),
        trial(1, [1.0, 0.6, 0.4], TrialStatus.STOPPED),
        trial(2, [2.0, 1.0], TrialStatus.FAILED),
    ]
    assert MedianStoppingRule(MIN).median_at(running(3, [1.0, 1.0]), others) == pytest.approx(0.9)


def test_non_finite_values_are_ignored() -> None:
    others = [
        trial(0, [NAN, 0.8]),  # average 0.8
        trial(1, [1.0, INF, 0.4]),  # average 1.0
        trial(2, [NAN, -INF]),  # no finite value: left out
        trial(3, [2.0, 1.0]),  # average 1.5
    ]
    rule = MedianStoppingRule(MIN)
    assert rule.median_at(running(4, [1.0, 1.1]), others) == pytest.approx(1.0)
    assert decide(rule, running(4, [1.0, 1.1]), others) is Decision.STOP
    for current in (NAN, INF, -INF):
        assert decide(rule, running(4, [1.0, current]), others) is Decision.CONTINUE
    assert running_average([NAN, INF], 2) is None
    assert running_average([1.0, NAN, 3.0, 100.0], 3) == pytest.approx(2.0)


def test_replay_gives_the_same_decision_whatever_the_order() -> None:
    rule = MedianStoppingRule(MIN)
    current = running(4, [1.0, 0.95])
    history = [*EARLIER, trial(3, [0.0, 1.2]), current, trial(5, [0.1, 0.1])]
    first = rule.on_report(current, history)
    shuffled = list(history)
    random.Random(1).shuffle(shuffled)
    assert MedianStoppingRule(MIN).on_report(current, shuffled) is first
    assert rule.on_report(current, list(history)) is first


def test_nothing_to_decide_without_values() -> None:
    assert (
        decide(MedianStoppingRule(MIN, min_epochs=1), running(3, []), EARLIER) is Decision.CONTINUE
    )
    assert MedianStoppingRule(MIN).median_at(running(3, []), EARLIER) is None


def test_no_early_stopping_always_continues() -> None:
    assert NoEarlyStopping().on_report(running(3, [99.0, 99.0]), EARLIER) is Decision.CONTINUE


@pytest.mark.parametrize("kwargs", [{"min_trials": 0}, {"min_epochs": 0}])
def test_invalid_settings(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        MedianStoppingRule(MIN, **kwargs)


# --- simulation -----------------------------------------------------------------------------


class StopAtEpoch:
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_report(self, trial: Trial, history: Sequence[Trial]) -> Decision:
        return Decision.STOP if len(trial.intermediate) >= self.epoch else Decision.CONTINUE


def test_simulate_counts_epochs_and_stops() -> None:
    curves = [[3.0, 2.0, 1.0], [3.0, 2.5], [4.0, 0.5, 0.1, 0.0]]
    result = simulate(StopAtEpoch(2), curves, MIN)
    assert result.epochs_per_trial == (2, 2, 2)
    assert result.epochs_used == 6
    assert result.stopped == 2  # the second curve ended by itself at epoch 2: Completed
    assert [t.status for t in result.trials] == [
        TrialStatus.STOPPED,
        TrialStatus.COMPLETED,
        TrialStatus.STOPPED,
    ]
    assert (result.best_objective, result.best_trial) == (0.5, 2)
    full = simulate(NoEarlyStopping(), curves, MIN)
    assert (full.epochs_used, full.best_objective, full.stopped) == (9, 0.0, 0)
    assert simulate(NoEarlyStopping(), curves, MAX).best_objective == 2.5
    with pytest.raises(ValueError):
        simulate(NoEarlyStopping(), curves, MIN, parallel=0)


def test_simulate_skips_non_finite_objectives_and_empty_curves() -> None:
    result = simulate(NoEarlyStopping(), [[1.0, NAN], [], [INF]], MIN)
    assert [t.objective for t in result.trials] == [1.0, None, None]
    assert result.epochs_used == 3


def test_synthetic_curves_are_repeatable() -> None:
    assert synthetic_curves(5, 7, seed=3) == synthetic_curves(5, 7, seed=3)
    assert synthetic_curves(5, 7, seed=3) != synthetic_curves(5, 7, seed=4)
    assert [len(c) for c in synthetic_curves(5, 7)] == [7] * 5


@pytest.mark.parametrize("parallel", [1, 4])
def test_median_stopping_saves_epochs_and_keeps_the_best(parallel: int) -> None:
    curves = synthetic_curves(40, 30, seed=0)
    without = simulate(NoEarlyStopping(), curves, MIN, parallel)
    with_rule = simulate(MedianStoppingRule(MIN), curves, MIN, parallel)
    assert without.epochs_used == 40 * 30
    saved = 1 - with_rule.epochs_used / without.epochs_used
    assert saved >= 0.3, saved
    assert with_rule.best_objective == without.best_objective
    assert with_rule.best_trial == without.best_trial
    assert with_rule.epochs_per_trial[without.best_trial or 0] == 30
    # Maximising 1 - loss takes exactly the same decisions.
    mirrored = simulate(
        MedianStoppingRule(MAX), [[1 - v for v in c] for c in curves], MAX, parallel
    )
    assert mirrored.epochs_per_trial == with_rule.epochs_per_trial
    # Replay: the same curves give the same run.
    assert simulate(MedianStoppingRule(MIN), curves, MIN, parallel) == with_rule


def test_median_stopping_across_seeds_keeps_the_best_in_most() -> None:
    kept = 0
    for seed in range(10):
        curves = synthetic_curves(40, 30, seed=seed)
        without = simulate(NoEarlyStopping(), curves, MIN)
        with_rule = simulate(MedianStoppingRule(MIN), curves, MIN)
        assert with_rule.epochs_used <= 0.75 * without.epochs_used
        kept += with_rule.best_objective == without.best_objective
    assert kept >= 9
