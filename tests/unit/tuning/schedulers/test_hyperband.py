"""Tests for runner.tuning.schedulers.hyperband: ASHA (stopping variant) for SageMaker's Hyperband
strategy."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest

from runner.core.problems import Problem, SpecError
from runner.tuning.schedulers.early_stopping import NoEarlyStopping
from runner.tuning.schedulers.hyperband import (
    HyperbandScheduler,
    hyperband_problems,
    hyperband_resources,
    rung_levels,
)
from runner.tuning.simulation import simulate, synthetic_curves
from runner.tuning.trials import Decision, Direction, Trial, TrialStatus

MIN = Direction.MINIMIZE
MAX = Direction.MAXIMIZE
NAN = math.nan
INF = math.inf
CFG = "HyperParameterTuningJobConfig.StrategyConfig"
HB = f"{CFG}.HyperbandStrategyConfig"


def trial(
    number: int, values: Sequence[float], status: TrialStatus = TrialStatus.COMPLETED
) -> Trial:
    finite = [v for v in values if math.isfinite(v)]
    return Trial(number, {}, status, finite[-1] if finite else None, tuple(values))


def running(number: int, values: Sequence[float]) -> Trial:
    return trial(number, values, TrialStatus.IN_PROGRESS)


def decide(scheduler: HyperbandScheduler, current: Trial, others: Sequence[Trial]) -> Decision:
    return scheduler.on_report(current, [*others, current])


@pytest.mark.parametrize(
    ("low", "high", "eta", "expected"),
    [
        (1, 27, 3, [1, 3, 9]),
        (1, 28, 3, [1, 3, 9, 27]),
        (1, 81, 3, [1, 3, 9, 27]),
        (2, 20, 3, [2, 6, 18]),
        (5, 6, 3, [5]),
        (1, 20_000, 3, [1, 3, 9, 27, 81, 243, 729, 2187, 6561, 19683]),
        (1, 16, 2, [1, 2, 4, 8]),
    ],
)
def test_rung_levels(low: int, high: int, eta: int, expected: list[int]) -> None:
    assert rung_levels(low, high, eta) == expected


@pytest.mark.parametrize(("low", "high", "eta"), [(0, 27, 3), (5, 5, 3), (6, 5, 3), (1, 27, 1)])
def test_rung_levels_rejects(low: int, high: int, eta: int) -> None:
    with pytest.raises(ValueError):
        rung_levels(low, high, eta)


ASHA = HyperbandScheduler(MIN, 1, 27)  # rungs 1, 3, 9


def test_fewer_than_eta_at_the_rung_continue() -> None:
    assert decide(ASHA, running(0, [9.0]), []) is Decision.CONTINUE
    assert decide(ASHA, running(1, [9.0]), [trial(0, [1.0])]) is Decision.CONTINUE


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.5, Decision.CONTINUE),
        (1.0, Decision.CONTINUE),
        (1.5, Decision.STOP),
        (3.0, Decision.STOP),
    ],
)
def test_three_at_the_rung_keep_one(value: float, expected: Decision) -> None:
    # floor(3 / 3) = 1: only the best (ties included) goes on.
    others = [trial(0, [1.0, 0.5]), trial(1, [2.0])]
    assert decide(ASHA, running(2, [value]), others) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.5, Decision.CONTINUE), (2.0, Decision.CONTINUE), (2.5, Decision.STOP)],
)
def test_six_at_the_rung_keep_two(value: float, expected: Decision) -> None:
    others = [trial(n, [v]) for n, v in enumerate([1.0, 2.0, 3.0, 4.0, 5.0])]
    assert decide(ASHA, running(5, [value]), others) is expected


def test_eight_at_the_rung_keep_two() -> None:
    # floor(8 / 3) = 2: the third best stops.
    others = [trial(n, [v]) for n, v in enumerate([1.0, 2.0, 4.0, 5.0, 6.0, 7.0, 8.0])]
    assert decide(ASHA, running(7, [3.0]), others) is Decision.STOP
    assert decide(ASHA, running(7, [1.5]), others) is Decision.CONTINUE


def test_maximize_mirrors() -> None:
    scheduler = HyperbandScheduler(MAX, 1, 27)
    others = [trial(0, [-1.0]), trial(1, [-2.0])]
    assert decide(scheduler, running(2, [-1.0]), others) is Decision.CONTINUE
    assert decide(scheduler, running(2, [-1.5]), others) is Decision.STOP
    assert decide(scheduler, running(2, [5.0]), others) is Decision.CONTINUE


def test_decisions_only_on_rungs() -> None:
    others = [trial(n, [1.0, 1.0, 1.0, 1.0]) for n in range(5)]
    assert decide(ASHA, running(5, [0.5, 9.0]), others) is Decision.CONTINUE  # epoch 2: no rung
    assert decide(ASHA, running(5, [0.5, 9.0, 9.0]), others) is Decision.STOP  # rung 3
    assert decide(ASHA, running(5, [0.5, 9.0, 9.0, 9.0]), others) is Decision.CONTINUE


def test_compares_values_at_the_rung_not_the_latest() -> None:
    # The others are far better by epoch 9, but at epoch 3 they were worse.
    others = [trial(n, [5.0, 5.0, 5.0, *[0.1] * 24]) for n in range(4)]
    assert decide(ASHA, running(4, [4.0, 4.0, 4.0]), others) is Decision.CONTINUE


def test_max_resource_stops_even_the_best() -> None:
    assert decide(ASHA, running(0, [0.0] * 27), []) is Decision.STOP
    assert decide(ASHA, running(0, [0.0] * 30), []) is Decision.STOP
    assert decide(ASHA, running(0, [0.0] * 26), []) is Decision.CONTINUE


def test_every_trial_of_any_status_and_number_is_in_the_field() -> None:
    others = [
        trial(0, [1.0], TrialStatus.STOPPED),
        trial(5, [1.0, 2.0], TrialStatus.FAILED),
        running(9, [1.0, 1.0]),
    ]
    # Field at rung 1: 1.0, 1.0, 1.0, 2.0 -> keep 1; 2.0 has three better values.
    assert decide(ASHA, running(3, [2.0]), others) is Decision.STOP
    assert decide(ASHA, running(3, [1.0]), others) is Decision.CONTINUE


def test_min_resource_protects_the_first_epochs() -> None:
    scheduler = HyperbandScheduler(MIN, 2, 20)  # rungs 2, 6, 18
    others = [trial(n, [0.1, 0.1]) for n in range(5)]
    assert decide(scheduler, running(5, [9.0]), others) is Decision.CONTINUE
    assert decide(scheduler, running(5, [9.0, 9.0]), others) is Decision.STOP


def test_non_finite_values_are_ignored() -> None:
    others = [trial(0, [NAN]), trial(1, [INF]), trial(2, [1.0])]
    # Only one finite value besides the trial's own: fewer than eta, continue.
    assert decide(ASHA, running(3, [5.0]), others) is Decision.CONTINUE
    others.append(trial(4, [-INF, 2.0]))
    others.append(trial(5, [0.5]))
    # Field: 1.0, 0.5 and 5.0 -> keep 1: 5.0 stops.
    assert decide(ASHA, running(3, [5.0]), others) is Decision.STOP
    for own in (NAN, INF, -INF):
        assert decide(ASHA, running(3, [own]), others) is Decision.CONTINUE


def test_replay_is_deterministic() -> None:
    rng = random.Random(7)
    history = [trial(n, [rng.random() for _ in range(rng.randint(1, 12))]) for n in range(20)]
    current = running(20, [rng.random() for _ in range(3)])
    first = decide(ASHA, current, history)
    shuffled = [*history, current]
    rng.shuffle(shuffled)
    assert HyperbandScheduler(MIN, 1, 27).on_report(current, shuffled) is first
    assert decide(ASHA, current, history) is first


# --- validation -------------------------------------------------------------------------------


def hb(**members: object) -> dict[str, object]:
    return {"HyperbandStrategyConfig": dict(members)}


def test_valid_configs() -> None:
    assert hyperband_problems(hb(MinResource=1, MaxResource=27), CFG) == []
    assert hyperband_problems(hb(MinResource=5, MaxResource=20_000), CFG) == []
    assert hyperband_resources(hb(MaxResource=30)) == (1, 30)
    assert hyperband_resources(None, {"epochs": "50"}) == (1, 50)
    assert hyperband_resources(hb(MinResource=2), {"num_epochs": " 12 "}) == (2, 12)
    assert hyperband_problems(None, CFG, static_hyperparameters={"n_epochs": "10"}) == []


@pytest.mark.parametrize(
    ("config", "statics", "expected"),
    [
        (
            hb(MinResource=0, MaxResource=27),
            None,
            [Problem(f"{HB}.MinResource", "must be >= 1, got 0")],
        ),
        (
            hb(MinResource=1, MaxResource=20_001),
            None,
            [Problem(f"{HB}.MaxResource", "must be <= 20000, got 20001")],
        ),
        (
            hb(MinResource=9, MaxResource=9),
            None,
            [Problem(f"{HB}.MaxResource", "must be greater than MinResource (9), got 9")],
        ),
        (
            hb(MinResource=10, MaxResource=3),
            None,
            [Problem(f"{HB}.MaxResource", "must be greater than MinResource (10), got 3")],
        ),
        (
            hb(MinResource="1", MaxResource=True),
            None,
            [
                Problem(f"{HB}.MinResource", "must be an integer, got '1'"),
                Problem(f"{HB}.MaxResource", "must be an integer, got True"),
            ],
        ),
        (
            None,
            {"epochs": "50000"},
            [
                Problem(
                    f"{HB}.MaxResource", "must be <= 20000, got 50000 (from StaticHyperParameters)"
                )
            ],
        ),
        ({"HyperbandStrategyConfig": 3}, None, [Problem(HB, "must be a mapping")]),
    ],
)
def test_invalid_configs(
    config: dict[str, object] | None, statics: dict[str, str] | None, expected: list[Problem]
) -> None:
    assert hyperband_problems(config, CFG, static_hyperparameters=statics) == expected


@pytest.mark.parametrize("statics", [None, {}, {"epochs": "many"}, {"max_epochs": "10"}])
def test_max_resource_required_when_it_cannot_be_inferred(statics: dict[str, str] | None) -> None:
    problems = hyperband_problems(hb(MinResource=1), CFG, static_hyperparameters=statics)
    assert [p.path for p in problems] == [f"{HB}.MaxResource"]
    assert "is required unless StaticHyperParameters sets one of epochs" in problems[0].message


def test_from_request() -> None:
    scheduler = HyperbandScheduler.from_request(hb(MinResource=2, MaxResource=20), MAX)
    assert (scheduler.rungs, scheduler.direction, scheduler.eta) == ([2, 6, 18], MAX, 3)
    with pytest.raises(SpecError) as caught:
        HyperbandScheduler.from_request(hb(MinResource=0, MaxResource=20_001), MIN)
    assert [p.path for p in caught.value.problems] == [f"{HB}.MinResource", f"{HB}.MaxResource"]


# --- simulation -----------------------------------------------------------------------------


@pytest.mark.parametrize("direction", [MIN, MAX])
def test_asha_on_27_trials_uses_few_epochs_and_runs_its_best_to_the_max(
    direction: Direction,
) -> None:
    curves = synthetic_curves(27, 27, seed=3)
    if direction is MAX:
        curves = [[1 - v for v in c] for c in curves]
    without = simulate(NoEarlyStopping(), curves, direction)
    asha = simulate(HyperbandScheduler(direction, 1, 27), curves, direction)
    assert without.epochs_used == 27 * 27
    assert asha.epochs_used <= 27 * 27 // 3, asha.epochs_used
    assert asha.best_trial is not None
    assert asha.epochs_per_trial[asha.best_trial] == 27
    assert asha.best_objective == without.best_objective
    assert set(asha.epochs_per_trial) <= {1, 3, 9, 27}
    assert (
        simulate(HyperbandScheduler(direction, 1, 27), curves, direction, parallel=4).epochs_used
        <= 27 * 9
    )


def test_asha_keeps_the_best_when_early_ranks_hold() -> None:
    # Noise-free curves that never cross: the best at epoch 1 is the best at the end.
    for seed in range(10):
        curves = synthetic_curves(27, 27, seed=seed, noise=0.0, spread=0.0, crossing=0.0)
        without = simulate(NoEarlyStopping(), curves, MIN)
        asha = simulate(HyperbandScheduler(MIN, 1, 27), curves, MIN)
        assert asha.best_objective == without.best_objective
        assert asha.epochs_per_trial[without.best_trial or 0] == 27
        # Trials that happen to arrive best-so-far all go on (seed 0: the first five).
        assert asha.epochs_used < 27 * 27 * 0.6
