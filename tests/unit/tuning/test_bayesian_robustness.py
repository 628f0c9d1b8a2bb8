"""Bayesian search on objectives that are not smooth boxes (issue 14): wide integer ranges,
heavy-tailed and huge losses, long histories."""

from __future__ import annotations

import math

import numpy as np

from runner.tuning.search_space import CategoricalParameter, NumericParameter, SearchSpace
from runner.tuning.strategies import bayesian
from runner.tuning.strategies.bayesian import BayesianSearch, fit_subset
from runner.tuning.strategies.gp import Kernel
from runner.tuning.strategies.warping import SPAN, standardise, warp, yeo_johnson
from runner.tuning.trials import Direction, Trial, TrialStatus


def history_of(space: SearchSpace, points: list[dict[str, float | int | str]],
               loss: object) -> list[Trial]:
    assert callable(loss)
    return [Trial(i, p, TrialStatus.COMPLETED, float(loss(p))) for i, p in enumerate(points)]


def test_categorical_dims_are_the_one_hot_blocks() -> None:
    space = SearchSpace((NumericParameter("n", 0, 9, integer=True),
                         CategoricalParameter("opt", ("a", "b", "c")),
                         NumericParameter("lr", 0.0, 1.0)))
    assert space.categorical_dims.tolist() == [False, True, True, True, False]
    assert space.discrete_dims.tolist() == [True, True, True, True, False]


def test_wide_integer_ranges_are_refined_over_all_of_them() -> None:
    """Thirty trials of a bowl over three integers 0..1000: the next trial lands within 50 of
    its bottom, nearer than any trial so far. (Integers kept at their drawn values, with
    +-1 neighbours, gave 40 to 137 on these histories.)"""
    space = SearchSpace(tuple(NumericParameter(f"n{i}", 0, 1000, integer=True)
                              for i in range(3)))
    bottom = (737, 215, 480)
    rng = np.random.default_rng(4)
    for seed in range(3):
        points: list[dict[str, float | int | str]] = [
            {f"n{i}": int(v) for i, v in enumerate(row)}
            for row in rng.integers(0, 1001, (30, 3))]
        history = history_of(space, points, lambda p: math.dist(
            [float(p[f"n{i}"]) for i in range(3)], bottom) ** 2 / 1e5)
        search = BayesianSearch(space, Direction.MINIMIZE, seed=seed, initial_points=3)
        (pick,) = search.suggest(history, 1)
        assert all(isinstance(v, int) for v in pick.values())
        nearest = min(math.dist([float(p[f"n{i}"]) for i in range(3)], bottom) for p in points)
        found = math.dist([float(pick[f"n{i}"]) for i in range(3)], bottom)
        assert found < min(50.0, nearest), (pick, nearest)


def test_heavy_tails_are_warped_on_their_logarithms() -> None:
    """Losses from 1 to 1e8: standardised, every good one is the same number; Box-Cox on the
    logarithms keeps them apart (and the order)."""
    rng = np.random.default_rng(0)
    losses = np.exp(rng.uniform(0.0, 19.0, 40))
    losses[:5] = [1.0, 1.5, 2.0, 3.0, 5.0]
    assert float(losses.max() / losses.min()) > SPAN
    warped = warp(losses)
    assert np.array_equal(np.argsort(warped, kind="stable"), np.argsort(losses, kind="stable"))
    plain = standardise(losses)
    assert float(np.ptp(plain[:5])) < 1e-6  # what a standardising warping saw of them
    assert float(np.ptp(warped[:5])) > 0.1


def test_huge_losses_never_overflow() -> None:
    for losses in (np.array([1e300, 1e200, 1.0, 5.0, 2e250]),
                   np.array([1e300, -1e200, 1.0, 5.0])):  # not all positive: their ranks
        warped = warp(losses)
        assert np.isfinite(warped).all()
        assert np.array_equal(np.argsort(warped), np.argsort(losses))


def test_losses_within_span_keep_the_yeo_johnson_warping() -> None:
    """Branin-like losses (0.4 to 300): Box-Cox is not a candidate (it did far worse there)."""
    losses = np.array([0.4, 2.0, 15.0, 60.0, 300.0, 7.5, 1.1])
    z = standardise(losses)
    from runner.tuning.strategies.warping import fit_exponent

    expected = standardise(yeo_johnson(z, np.array([fit_exponent(z)]))[0])
    np.testing.assert_allclose(warp(losses), expected)


def test_the_fit_subset_keeps_the_best_and_spreads_the_rest() -> None:
    y = np.random.default_rng(3).normal(size=400)
    chosen = fit_subset(400, y, 120)
    assert len(chosen) == 120 and len(set(chosen.tolist())) == 120
    assert set(np.argsort(y)[:60].tolist()) <= set(chosen.tolist())  # the 60 best
    assert chosen.min() < 20 and chosen.max() > 380  # the others spread over the history
    assert np.array_equal(chosen, fit_subset(400, y, 120))  # the same history, the same
    assert np.array_equal(fit_subset(50, y[:50], 120), np.arange(50))


def test_a_long_history_fits_its_kernel_on_a_subset() -> None:
    """Past FIT_LIMIT trials the kernel is fitted on FIT_LIMIT of them; the suggestion still
    depends only on the history and the seed."""
    space = SearchSpace(tuple(NumericParameter(f"x{i}", 0.0, 1.0) for i in range(3)))
    rng = np.random.default_rng(5)
    points: list[dict[str, float | int | str]] = [
        {f"x{i}": float(v) for i, v in enumerate(row)} for row in rng.random((300, 3))]
    history = history_of(space, points, lambda p: sum((p[k] - 0.3) ** 2 for k in p))
    sizes: list[int] = []
    original = bayesian.fit_kernel

    def counting(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> Kernel:
        sizes.append(x.shape[0])
        return original(x, y, rng)

    bayesian.fit_kernel = counting  # type: ignore[assignment]
    try:
        # (one run: a random history has long converged, and a new run would model none of it)
        first = BayesianSearch(space, Direction.MINIMIZE, seed=2, restarts=False).suggest(
            history, 1)
        again = BayesianSearch(space, Direction.MINIMIZE, seed=2, restarts=False).suggest(
            history, 1)
    finally:
        bayesian.fit_kernel = original  # type: ignore[assignment]
    assert sizes == [bayesian.FIT_LIMIT, bayesian.FIT_LIMIT]
    assert first == again
    assert math.dist([first[0][f"x{i}"] for i in range(3)], [0.3] * 3) < 0.2
