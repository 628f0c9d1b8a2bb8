"""The chance that a configuration runs (runner.tuning.strategies.feasibility), and Bayesian
search next to a failing region's border."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runner.tuning.search_space import NumericParameter, SearchSpace
from runner.tuning.strategies.bayesian import BayesianSearch
from runner.tuning.strategies.feasibility import POWER, Feasibility
from runner.tuning.trials import Config, Direction, Trial, TrialStatus


def classifier() -> Feasibility:
    """Trials in 2-D that ran where x < 0.5 and failed where x > 0.5."""
    rng = np.random.default_rng(1)
    points = rng.random((40, 2))
    ran, failed = points[points[:, 0] < 0.5], points[points[:, 0] >= 0.5]
    return Feasibility(ran, failed, np.random.default_rng(2), fit_limit=None)


def test_likely_to_run_among_trials_that_ran_unlikely_among_failures() -> None:
    model = classifier()
    inside, outside, far = np.array([[0.2, 0.5]]), np.array([[0.8, 0.5]]), np.array([[-50.0, 50.0]])
    assert math.exp(model.log_prob(inside)[0] / POWER) > 0.9
    assert math.exp(model.log_prob(outside)[0] / POWER) < 0.1
    # far from every trial: a coin's toss
    assert math.exp(model.log_prob(far)[0] / POWER) == pytest.approx(0.5, abs=0.02)


def test_gradient_matches_finite_differences() -> None:
    model = classifier()
    z = np.random.default_rng(3).random((6, 2))
    value, grad = model.log_prob_grad(z)
    np.testing.assert_allclose(value, model.log_prob(z))
    step = 1e-6
    for d in range(2):
        shifted = z.copy()
        shifted[:, d] += step
        numeric = (model.log_prob(shifted) - model.log_prob(z)) / step
        np.testing.assert_allclose(grad[:, d], numeric, rtol=1e-3, atol=1e-4)


def test_bayesian_search_finds_a_minimum_next_to_a_failing_border() -> None:
    """A bowl at (0.28, 0.6) with every trial past x = 0.3 failing: failures entered as the
    worst loss (before) bent the model just inside the border (regrets of 2e-5 to 1.3e-3 at
    30 trials); weighed as a chance to run, the search gets to the minimum, probing the
    border: fewer than half of the trials after the design fail (at random, 70% would)."""
    space = SearchSpace((NumericParameter("x", 0.0, 1.0), NumericParameter("y", 0.0, 1.0)))

    def loss(config: Config) -> float:
        return (float(config["x"]) - 0.28) ** 2 + (float(config["y"]) - 0.6) ** 2

    regrets, failures = [], 0
    for seed in range(3):
        search = BayesianSearch(space, Direction.MINIMIZE, seed=seed, initial_points=5)
        history: list[Trial] = []
        for number in range(30):
            (config,) = search.suggest(history, 1)
            if float(config["x"]) > 0.3:
                history.append(Trial(number, config, TrialStatus.FAILED))
                failures += number >= 5
            else:
                history.append(Trial(number, config, TrialStatus.COMPLETED, loss(config)))
        regrets.append(min(float(t.objective) for t in history if t.objective is not None))
    assert max(regrets) < 1e-5, regrets
    assert failures < 0.5 * 3 * 25, failures
