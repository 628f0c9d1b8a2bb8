"""Conformance suite for the search strategies (runner.tuning.strategies): every strategy is a pure
function of the history and the seed, stays in the space, fills parallel slots without
repeats, and copes with failed trials; then what is particular to each."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

import numpy as np
import pytest

from runner.tuning.search_space import CategoricalParameter, NumericParameter, Scaling, SearchSpace
from runner.tuning.strategies import GridSearch, RandomSearch, make_strategy
from runner.tuning.strategies.bayesian import BayesianSearch
from runner.tuning.trials import Config, Direction, Strategy, Trial, TrialStatus

STRATEGIES = ["Grid", "Random", "Bayesian"]

MIXED = SearchSpace(
    (
        NumericParameter("batch", 16, 2048, Scaling.LOGARITHMIC, integer=True),
        NumericParameter("lr", 1e-4, 1e-1, Scaling.LOGARITHMIC),
        NumericParameter("momentum", 0.0, 0.99, Scaling.REVERSE_LOGARITHMIC),
        NumericParameter("dropout", 0.0, 0.5),
        CategoricalParameter("optimizer", ("sgd", "adam", "adadelta")),
    )
)
CATEGORICAL = SearchSpace(
    (
        CategoricalParameter("lr", ("0.1", "0.01", "0.001")),
        CategoricalParameter("batch", ("32", "64", "128", "256")),
    )
)


def space_for(name: str) -> SearchSpace:
    return CATEGORICAL if name == "Grid" else MIXED


def make(name: str, seed: int = 7, direction: Direction = Direction.MINIMIZE) -> Strategy:
    return make_strategy(name, space_for(name), direction, seed=seed, max_jobs=30, config={})


def objective(config: Config) -> float:
    """A smooth made-up loss over either space."""
    value = 0.0
    for key, raw in config.items():
        if isinstance(raw, str):
            value += (0.1 * (hash(key + raw) % 7) if not raw[0].isdigit()
                      else abs(math.log10(float(raw)) + 2))
        elif key == "lr":
            value += (math.log10(raw) + 2.5) ** 2
        elif key == "batch":
            value += (math.log2(raw) - 7) ** 2 / 10
        else:
            value += (float(raw) - 0.3) ** 2
    return value


def run(strategy: Strategy, trials: int, fn: Callable[[Config], float] = objective) -> list[Trial]:
    history: list[Trial] = []
    for number in range(trials):
        suggested = strategy.suggest(history, 1)
        if not suggested:
            break
        history.append(Trial(number, suggested[0], TrialStatus.COMPLETED, fn(suggested[0])))
    return history


def keys(space: SearchSpace, configs: list[Config]) -> list[tuple[str, ...]]:
    return [space.key(c) for c in configs]


# --- conformance ----------------------------------------------------------------


@pytest.mark.parametrize("name", STRATEGIES)
def test_suggestions_are_in_the_space_and_typed(name: str) -> None:
    space = space_for(name)
    history = run(make(name), 8)
    assert len(history) == 8
    for config in [t.config for t in history] + make(name).suggest(history, 3):
        assert space.contains(config), config
        for p in space.parameters:
            expected = str if isinstance(p, CategoricalParameter) else int if p.integer else float
            assert type(config[p.name]) is expected


@pytest.mark.parametrize("name", STRATEGIES)
def test_same_history_gives_same_suggestions(name: str) -> None:
    history = run(make(name), 9)
    for cut in (0, 3, 9):
        first = make(name).suggest(history[:cut], 3)
        again = make(name).suggest(list(history[:cut]), 3)
        assert first == again
    replay = run(make(name), 9)
    assert [t.config for t in replay] == [t.config for t in history]


@pytest.mark.parametrize("name", STRATEGIES)
def test_a_batch_has_no_duplicates_and_skips_running_trials(name: str) -> None:
    space = space_for(name)
    done = run(make(name), 4)
    more = make(name).suggest(done, 2)
    history = done + [
        Trial(4, more[0], TrialStatus.PENDING),
        Trial(5, more[1], TrialStatus.IN_PROGRESS, None, (0.5,)),
    ]
    batch = make(name).suggest(history, 4)
    assert len(batch) == 4
    batch_keys = keys(space, batch)
    assert len(set(batch_keys)) == 4
    assert not set(batch_keys) & set(keys(space, [t.config for t in history]))


@pytest.mark.parametrize("name", STRATEGIES)
def test_failed_trials_are_not_suggested_again(name: str) -> None:
    space = space_for(name)
    done = run(make(name), 5)
    history = [
        Trial(t.number, t.config, TrialStatus.FAILED if t.number % 2 else t.status,
              None if t.number % 2 else t.objective)
        for t in done
    ]
    history.append(Trial(5, make(name).suggest(history, 1)[0], TrialStatus.COMPLETED, None))
    history.append(Trial(6, make(name).suggest(history, 1)[0], TrialStatus.STOPPED, math.nan))
    batch = make(name).suggest(history, 3)
    assert len(batch) == 3
    assert not set(keys(space, batch)) & set(keys(space, [t.config for t in history]))


@pytest.mark.parametrize("name", STRATEGIES)
def test_only_failures_and_an_empty_history(name: str) -> None:
    space = space_for(name)
    assert len(make(name).suggest([], 3)) == 3
    failed = [Trial(i, c, TrialStatus.FAILED) for i, c in enumerate(make(name).suggest([], 3))]
    batch = make(name).suggest(failed, 2)
    assert len(batch) == 2 and all(space.contains(c) for c in batch)


@pytest.mark.parametrize("name", STRATEGIES)
def test_respects_count(name: str) -> None:
    history = run(make(name), 5)
    assert make(name).suggest(history, 0) == []
    assert len(make(name).suggest(history, 1)) == 1
    assert len(make(name).suggest(history, 5)) == 5


# --- Grid -------------------------------------------------------------------------


def test_grid_tries_every_combination_once_in_order() -> None:
    history = run(make("Grid"), 100)
    assert [t.config for t in history] == CATEGORICAL.grid()
    assert make("Grid").suggest(history, 5) == []


def test_grid_fills_a_batch_with_the_rest_in_order() -> None:
    grid = CATEGORICAL.grid()
    history = [Trial(0, grid[1], TrialStatus.IN_PROGRESS), Trial(1, grid[3], TrialStatus.FAILED)]
    rest = make("Grid").suggest(history, 100)
    assert rest == [c for i, c in enumerate(grid) if i not in (1, 3)]


def test_grid_needs_categorical_ranges() -> None:
    with pytest.raises(ValueError, match="categorical"):
        GridSearch(MIXED)


# --- Random ---------------------------------------------------------------------


def test_random_seed_is_repeatable_and_another_seed_differs() -> None:
    a = [t.config for t in run(make("Random", seed=1), 10)]
    b = [t.config for t in run(make("Random", seed=1), 10)]
    c = [t.config for t in run(make("Random", seed=2), 10)]
    assert a == b and a != c
    # trial k's draw depends on k, not on how the batches were cut
    assert make("Random", seed=1).suggest([], 10) == a


def test_random_avoids_repeats_until_a_finite_space_is_exhausted() -> None:
    space = SearchSpace((CategoricalParameter("c", ("a", "b", "c")),))
    strategy = RandomSearch(space, seed=0)
    history = run(strategy, 3)
    assert sorted(str(t.config["c"]) for t in history) == ["a", "b", "c"]
    assert len(strategy.suggest(history, 2)) == 2  # exhausted: repeats are allowed


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError, match="unknown strategy"):
        make_strategy("Annealing", MIXED, Direction.MINIMIZE, seed=0, max_jobs=None, config={})
    hyperband = make_strategy("Hyperband", MIXED, Direction.MINIMIZE, seed=0, max_jobs=None,
                              config={})
    assert isinstance(hyperband, RandomSearch)


# --- Bayesian -------------------------------------------------------------------


QUADRATIC = SearchSpace((NumericParameter("x", -5.0, 5.0), NumericParameter("y", -5.0, 5.0)))


def quadratic(config: Config) -> float:
    return (float(config["x"]) - 1.3) ** 2 + 2 * (float(config["y"]) + 0.7) ** 2


def best_after(strategy: Strategy, trials: int, fn: Callable[[Config], float]) -> float:
    return min(float(t.objective or math.inf) for t in run(strategy, trials, fn))


def test_bayesian_beats_random_on_a_quadratic_within_30_trials() -> None:
    bayes, rand = [], []
    for seed in range(5):
        bayes.append(best_after(BayesianSearch(QUADRATIC, Direction.MINIMIZE, seed=seed), 30,
                                quadratic))
        rand.append(best_after(RandomSearch(QUADRATIC, seed=seed), 30, quadratic))
    assert statistics.median(bayes) < 1e-3
    assert statistics.median(bayes) < statistics.median(rand) / 100
    assert all(b < r for b, r in zip(bayes, rand, strict=True))


def test_bayesian_maximises_when_told_to() -> None:
    strategy = BayesianSearch(QUADRATIC, Direction.MAXIMIZE, seed=3)
    history = run(strategy, 25, lambda c: -quadratic(c))
    assert max(float(t.objective or -math.inf) for t in history) > -1e-2


def test_bayesian_handles_integers_categoricals_and_log_scales() -> None:
    def loss(config: Config) -> float:
        return (
            (math.log10(float(config["lr"])) + 2.0) ** 2
            + (math.log2(float(config["batch"])) - 6.0) ** 2 / 4
            + (0.0 if config["optimizer"] == "adam" else 1.0)
            + (float(config["dropout"]) - 0.1) ** 2
        )

    history = run(BayesianSearch(MIXED, Direction.MINIMIZE, seed=0), 30, loss)
    best = min(history, key=lambda t: float(t.objective or math.inf))
    assert best.config["optimizer"] == "adam"
    assert float(best.objective or math.inf) < 0.3
    assert len({MIXED.key(t.config) for t in history}) == 30


def test_bayesian_batches_spread_out() -> None:
    strategy = BayesianSearch(QUADRATIC, Direction.MINIMIZE, seed=1)
    history = run(strategy, 12, quadratic)
    batch = strategy.suggest(history, 4)
    points = QUADRATIC.encode_many(batch)
    distances = np.linalg.norm(points[:, None] - points[None], axis=2)[np.triu_indices(4, 1)]
    assert distances.min() > 1e-4


def test_bayesian_repeats_only_when_a_finite_space_is_exhausted() -> None:
    space = SearchSpace((CategoricalParameter("c", ("a", "b")),
                         NumericParameter("k", 1, 2, integer=True)))
    strategy = BayesianSearch(space, Direction.MINIMIZE, seed=0, initial_points=2)
    history = run(strategy, 4, lambda c: float(c["k"]) + (c["c"] == "a"))
    assert len({space.key(t.config) for t in history}) == 4
    assert len(strategy.suggest(history, 1)) == 1


def test_bayesian_ignores_trials_outside_the_space() -> None:
    history = run(BayesianSearch(QUADRATIC, Direction.MINIMIZE, seed=2), 6, quadratic)
    history.append(Trial(6, {"x": 50.0, "y": 0.0}, TrialStatus.COMPLETED, 3.0))
    history.append(Trial(7, {"z": 1.0}, TrialStatus.COMPLETED, 3.0))
    batch = BayesianSearch(QUADRATIC, Direction.MINIMIZE, seed=2).suggest(history, 2)
    assert len(batch) == 2 and all(QUADRATIC.contains(c) for c in batch)


# --- the numerics under Bayesian -------------------------------------------------------


def test_gp_objective_and_log_ei_gradients_match_finite_differences() -> None:
    from runner.tuning.strategies import gp
    from runner.tuning.strategies.bayesian import log_ei, log_ei_grad

    rng = np.random.default_rng(0)
    x = rng.random((25, 3))
    y = np.sin(4 * x).sum(axis=1)
    y = (y - y.mean()) / y.std()
    sq = ((x[:, None, :] - x[None, :, :]) ** 2).reshape(-1, 3)
    theta = np.array([0.3, -0.5, 1.0, 0.2, -5.0])
    _, grad = gp._neg_log_posterior(theta, sq, y, True)
    step = 1e-6
    numeric = [
        (gp._neg_log_posterior(theta + e, sq, y, False)[0] - gp._neg_log_posterior(theta - e, sq, y,
                                                                                   False)[0])
        / (2 * step)
        for e in np.eye(5) * step
    ]
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-5)
    post = gp.Posterior(x, y, gp.Kernel(np.array([4.0, 2.0, 1.0]), 1.5, 1e-4))
    z = rng.random((4, 3))
    _, g = log_ei_grad(post, z, float(y.min()))
    numeric_ei = np.stack(
        [(log_ei(post, z + e, float(y.min())) - log_ei(post, z - e, float(y.min()))) / (2 * step)
         for e in np.eye(3) * step],
        axis=1,
    )
    np.testing.assert_allclose(g, numeric_ei, rtol=1e-3, atol=1e-4)


def test_log_h_is_stable_far_into_the_tail() -> None:
    from runner.tuning.strategies.bayesian import log_h

    z = np.array([-1e5, -2e3, -999.0, -40.0, -5.0, -1.0, 0.0, 3.0])
    values = log_h(z)
    assert np.all(np.isfinite(values)) and np.all(np.diff(values) > 0)
    assert values[-2] == pytest.approx(math.log(1 / math.sqrt(2 * math.pi)))
    assert values[3] == pytest.approx(
        -0.5 * 40.0**2 - math.log(math.sqrt(2 * math.pi)) - 2 * math.log(40.0), rel=1e-3)


def test_batched_minimiser_solves_each_row_on_its_own() -> None:
    from runner.tuning.strategies.batch_lbfgs import minimize_batched

    scales = np.array([[1.0, 100.0], [0.01, 1.0], [5.0, 5.0]])
    targets = np.array([[0.2, 0.9], [0.5, 1.5], [-1.0, 0.3]])  # the last two partly out of bounds

    def fun(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = x - targets[rows]
        return (scales[rows] * d * d).sum(axis=1), 2 * scales[rows] * d

    x, f = minimize_batched(fun, np.full((3, 2), 0.5), np.zeros(2), np.ones(2), gtol=1e-9, ftol=0.0)
    np.testing.assert_allclose(x, np.clip(targets, 0, 1), atol=1e-4)


def test_yeo_johnson_fit_matches_scipy_and_keeps_the_order() -> None:
    import scipy.stats

    from runner.tuning.strategies.warping import fit_exponent, standardise, warp, yeo_johnson

    rng = np.random.default_rng(1)
    for sample in (rng.lognormal(size=80), -rng.lognormal(size=40), rng.normal(size=30)):
        z = standardise(sample)
        expected, lmbda = scipy.stats.yeojohnson(z)
        assert fit_exponent(z) == pytest.approx(lmbda, abs=5e-3)
        np.testing.assert_allclose(yeo_johnson(z, np.array([lmbda]))[0], expected, rtol=1e-9)
        warped = warp(sample)
        assert np.array_equal(np.argsort(warped), np.argsort(sample))
        assert warped.mean() == pytest.approx(0.0, abs=1e-12) and warped.std() == pytest.approx(1.0)
    assert np.array_equal(warp(np.array([2.0, 2.0, 2.0])), np.zeros(3))


def test_which_trials_their_configuration_failed() -> None:
    assert Trial(0, {}, TrialStatus.FAILED).failed_by_config
    assert not Trial(0, {}, TrialStatus.FAILED, retryable=True).failed_by_config
    assert Trial(0, {}, TrialStatus.COMPLETED, None).failed_by_config
    assert Trial(0, {}, TrialStatus.COMPLETED, math.nan).failed_by_config
    assert not Trial(0, {}, TrialStatus.COMPLETED, 0.5).failed_by_config
    assert not Trial(0, {}, TrialStatus.STOPPED, None).failed_by_config  # stopped, not failed


def test_bayesian_search_keeps_away_from_a_failing_region() -> None:
    """Failed trials inform the search (the chance to run): with failures wherever x > 0.6,
    the next trials go where the model is, not to the 'unexplored' failing region; failures
    of the platform's (retryable) do not count against their region."""
    space = SearchSpace((NumericParameter("x", 0.0, 1.0),))
    ok = [(0.05, 1.0), (0.2, 0.8), (0.35, 0.6), (0.5, 0.4)]  # better and better to the right
    history = [Trial(i, {"x": x}, TrialStatus.COMPLETED, y) for i, (x, y) in enumerate(ok)]
    failing = [0.62, 0.7, 0.78, 0.86, 0.93, 0.99]
    failed = [Trial(len(history) + i, {"x": x}, TrialStatus.FAILED)
              for i, x in enumerate(failing)]
    search = BayesianSearch(space, Direction.MINIMIZE, seed=3, initial_points=2)
    picks = [float(c["x"]) for c in search.suggest(history + failed, 4)]
    assert all(x < 0.62 for x in picks), picks
    retryable = [Trial(t.number, t.config, t.status, retryable=True) for t in failed]
    picks = [float(c["x"]) for c in search.suggest(history + retryable, 4)]
    assert any(x > 0.6 for x in picks), picks  # as if they never ran
