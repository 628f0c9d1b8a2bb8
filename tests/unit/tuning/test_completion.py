"""Tests for runner.tuning.completion: TuningJobCompletionCriteria and
TuningJobCompletionDetails."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import botocore.model
import botocore.session
import pytest

from runner.tuning.completion import (
    BEST_OBJECTIVE_NOT_IMPROVING,
    CONVERGENCE_DETECTED,
    TARGET_REACHED,
    completion_details,
    completion_reason,
    converged,
    convergence_window,
    finished_objectives,
    not_improving_count,
)
from runner.tuning.trials import Direction, Trial, TrialStatus

MIN = Direction.MINIMIZE
MAX = Direction.MAXIMIZE
T = 1_700_000_000.0


def done(
    values: Sequence[float | None], status: TrialStatus = TrialStatus.COMPLETED
) -> list[Trial]:
    return [Trial(n, {}, status, v) for n, v in enumerate(values)]


def target(value: float) -> dict[str, Any]:
    return {"TargetObjectiveMetricValue": value}


def patience(count: int) -> dict[str, Any]:
    return {"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": count}}


CONVERGE = {"ConvergenceDetected": {"CompleteOnConvergence": "Enabled"}}


def test_no_criteria_never_complete() -> None:
    history = done([1.0, 2.0, 2.0, 2.0, 2.0])
    assert completion_reason(None, history, MIN) is None
    assert completion_reason({}, history, MIN) is None
    assert completion_reason(target(0.5), [], MIN) is None


@pytest.mark.parametrize(
    ("direction", "values", "goal", "reached"),
    [
        (MIN, [1.0, 0.5, 0.7], 0.5, True),
        (MIN, [1.0, 0.5, 0.7], 0.4, False),
        (MIN, [-3.0], -2.5, True),
        (MAX, [0.8, 0.91, 0.7], 0.9, True),
        (MAX, [0.8, 0.91, 0.7], 0.95, False),
        (MAX, [0.8], 0.8, True),
    ],
)
def test_target_objective(
    direction: Direction, values: list[float], goal: float, reached: bool
) -> None:
    expected = TARGET_REACHED if reached else None
    assert completion_reason(target(goal), done(values), direction) == expected


def test_only_finished_trials_with_a_finite_objective_count() -> None:
    history = [
        Trial(0, {}, TrialStatus.COMPLETED, 1.0),
        Trial(1, {}, TrialStatus.IN_PROGRESS, 0.1, (0.1,)),  # still running
        Trial(2, {}, TrialStatus.FAILED, None),  # no objective
        Trial(3, {}, TrialStatus.COMPLETED, math.nan),
        Trial(4, {}, TrialStatus.COMPLETED, -math.inf),
        Trial(5, {}, TrialStatus.STOPPED, 0.9),  # stopped trials keep their last objective
        Trial(6, {}, TrialStatus.PENDING),
    ]
    assert finished_objectives(history) == [1.0, 0.9]
    assert completion_reason(target(0.5), history, MIN) is None
    assert completion_reason(target(0.9), history, MIN) == TARGET_REACHED


@pytest.mark.parametrize(
    ("direction", "values", "count"),
    [
        (MIN, [], 0),
        (MIN, [1.0], 0),
        (MIN, [1.0, 1.1, 0.995], 2),  # 0.5% better is not an improvement
        (MIN, [1.0, 1.1, 0.995, 0.99], 0),  # 1% over the reference 1.0 is
        (MIN, [1.0, 1.1, 0.995, 0.99, 1.3], 1),
        (MIN, [1.0, 0.995, 0.994, 0.993], 3),  # small gains below 1% in all
        (MIN, [1.0, 0.995, 0.994, 0.989], 0),  # ... until they add up to 1%
        (MIN, [1.0, 1.0, 1.0], 2),  # ties do not improve
        (MIN, [0.0, 0.0, -0.001], 0),  # any gain over a reference of 0
        (MIN, [-1.0, -1.005, -1.02], 0),  # negative values: 1% of |reference|
        (MIN, [-1.0, -1.005], 1),
        (MAX, [1.0, 1.005, 1.01], 0),
        (MAX, [1.0, 1.005, 0.5], 2),
        (MAX, [0.5, 0.2, 0.9, 0.1, 0.2, 0.3], 3),
    ],
)
def test_not_improving_count(direction: Direction, values: list[float], count: int) -> None:
    assert not_improving_count(done(values), direction) == count
    assert completion_details(done(values), direction) == {
        "NumberOfTrainingJobsObjectiveNotImproving": count
    }


def test_best_objective_not_improving() -> None:
    history = done([1.0, 2.0, 2.0])
    assert completion_reason(patience(3), history, MIN) is None
    assert (
        completion_reason(patience(3), [*history, *done([0.995])], MIN)
        == BEST_OBJECTIVE_NOT_IMPROVING
    )
    assert completion_reason(patience(3), [*history, *done([0.5])], MIN) is None
    assert completion_reason(patience(3), done([1.0, 2.0, 2.0, 2.0]), MAX) is None
    # Trials without an objective do not count as not improving.
    assert completion_reason(patience(3), [*history, Trial(9, {}, TrialStatus.FAILED)], MIN) is None


def improving_then_flat(improving: int, flat: int) -> list[Trial]:
    values = [1.0 * 0.9**i for i in range(improving)]
    return done([*values, *[values[-1] * 1.05] * flat])


@pytest.mark.parametrize(
    ("max_jobs", "window"), [(None, 10), (10, 10), (50, 10), (55, 11), (100, 20), (750, 150)]
)
def test_convergence_window(max_jobs: int | None, window: int) -> None:
    assert convergence_window(max_jobs) == window


def test_convergence_needs_a_window_without_improvement_and_enough_trials() -> None:
    assert converged(improving_then_flat(10, 10), MIN)
    assert not converged(improving_then_flat(10, 9), MIN)
    assert not converged(improving_then_flat(5, 10), MIN)  # 15 trials < 2 * 10
    assert converged(improving_then_flat(5, 15), MIN)
    assert not converged(improving_then_flat(10, 10), MIN, max_jobs=100)  # window 20
    assert converged(improving_then_flat(20, 20), MIN, max_jobs=100)


def test_convergence_reason_only_when_enabled() -> None:
    history = improving_then_flat(10, 10)
    assert completion_reason(CONVERGE, history, MIN) == CONVERGENCE_DETECTED
    disabled = {"ConvergenceDetected": {"CompleteOnConvergence": "Disabled"}}
    assert completion_reason(disabled, history, MIN) is None
    assert completion_reason(CONVERGE, improving_then_flat(10, 9), MIN) is None
    assert completion_reason(CONVERGE, history, MIN, max_jobs=100) is None


def test_maximize_convergence() -> None:
    values = [1.0 + 0.1 * i for i in range(10)]
    history = done([*values, *[values[-1] * 0.99] * 10])
    assert converged(history, MAX)
    assert completion_reason(CONVERGE, history, MAX) == CONVERGENCE_DETECTED


def test_first_criterion_met_is_the_reason() -> None:
    history = improving_then_flat(10, 10)
    everything = {**target(10.0), **patience(3), **CONVERGE}
    assert completion_reason(everything, history, MIN) == TARGET_REACHED
    assert (
        completion_reason({**patience(3), **CONVERGE}, history, MIN) == BEST_OBJECTIVE_NOT_IMPROVING
    )
    assert completion_reason({**patience(20), **CONVERGE}, history, MIN) == CONVERGENCE_DETECTED


def test_completion_details_shape_and_convergence_time() -> None:
    history = improving_then_flat(10, 10)
    assert completion_details(history, MIN, convergence_time=T) == {
        "NumberOfTrainingJobsObjectiveNotImproving": 10,
        "ConvergenceDetectedTime": T,
    }
    # Converged but no time given; a time given but not converged.
    assert "ConvergenceDetectedTime" not in completion_details(history, MIN)
    assert "ConvergenceDetectedTime" not in completion_details(
        improving_then_flat(10, 9), MIN, convergence_time=T
    )
    assert "ConvergenceDetectedTime" not in completion_details(
        history, MIN, max_jobs=100, convergence_time=T
    )
    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.shape_for("HyperParameterTuningJobCompletionDetails")
    assert isinstance(shape, botocore.model.StructureShape)
    assert set(completion_details(history, MIN, convergence_time=T)) == set(shape.members)


def test_replay_gives_the_same_answer() -> None:
    history = improving_then_flat(10, 10)
    criteria = {**patience(11), **CONVERGE}
    assert completion_reason(criteria, list(history), MIN) == completion_reason(
        criteria, history, MIN
    )
    assert completion_details(history, MIN) == completion_details(list(history), MIN)


@pytest.mark.parametrize(
    "criteria",
    [
        {"TargetObjectiveMetricValue": math.nan},
        {"TargetObjectiveMetricValue": "0.5"},
        {"TargetObjectiveMetricValue": True},
        {"BestObjectiveNotImproving": 3},
        {"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": "3"}},
        {"ConvergenceDetected": {"CompleteOnConvergence": "enabled"}},
    ],
)
def test_malformed_criteria_are_ignored(criteria: dict[str, Any]) -> None:
    # Validation against the service model reports these; here they just never complete.
    assert completion_reason(criteria, improving_then_flat(10, 10), MIN) is None
