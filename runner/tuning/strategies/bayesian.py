"""Bayesian search: a Gaussian process on the encoded unit cube and log expected improvement.

- Initial design: the first ``initial_points`` trials (of each run: see Restarts) are
  seeded random draws (the same as Random search's), and so is any later trial while fewer
  than two of the run's trials have a finite objective. Where trials have failed, those
  later draws and a new run's design draw again where a trial would likely fail (``_draw``).
  (A scrambled Sobol design did worse on Hartmann6 in our benchmark.)
- Model: every finished trial with a finite objective (Completed or Stopped), its
  ``Direction.loss`` warped (``warping``: standardised, Yeo-Johnson, standardised) and shifted
  so that the worst loss seen is 0, the GP's prior mean. Far from the data the model then
  expects nothing better than the worst trial: with the usual prior mean (the average loss)
  EI keeps sending trials to the corners of the cube, where the variance is largest; on
  Hartmann6 up to half of them (De Ath et al., "What do you mean? The role of the mean
  function in Bayesian optimisation", GECCO 2020, found the same).
  See ``runner.tuning.strategies.gp`` for the kernel and its fit.
- Failed trials (Failed other than for the platform's reasons, or Completed with no finite
  objective): a second GP, a classifier of the trials that ran and those that failed
  (``feasibility``), gives the chance that a configuration runs, and the acquisition is
  weighed by it. Left out, a failing region (a learning rate that diverges, a batch that
  does not fit) looks unexplored and keeps drawing trials; entered in the loss model as the
  worst loss seen (as they were before), failures bent its values next to the region's
  border, where the best configurations often are (Hartmann3 with every trial past
  x1 = 0.15 failing, its minimum at 0.1146: 1.9e-3 against 6.9e-6 now, 20 seeds x 50).
- Acquisition: log expected improvement over the best observed (standardised) loss. It is
  evaluated on ``CANDIDATES`` seeded uniform draws; local searches start from the best of
  them, the incumbent (best trial) and a roulette draw of others weighted by EI (as Optuna's
  GP sampler does), and run side by side (``batch_lbfgs``) over the continuous dimensions in
  lengthscale-scaled coordinates. Integer dimensions are refined with them, relaxed to the
  continuum and rounded after (a wide range, ``mini_batch_size`` 16..2048, is searched over
  all of it); categorical dimensions keep the start's values (one-hot decoding then
  re-encoding). The one-step integer and categorical neighbours of the best refined point
  and of the incumbent are scored as well (rounding may have stepped off the best). The best
  configuration not tried yet wins.
- Parallel slots: running trials (Pending/InProgress) and the batch's own earlier picks are
  added to the model with the posterior mean as their value (kriging believer), which takes
  the variance, and so EI, away there: no repeats, and the next pick goes elsewhere. (A
  pessimistic constant liar spread batches wider but did far worse in our asynchronous
  benchmark with 4 slots: Branin 3e-2 against 1.2e-4, Hartmann6 0.3 against 5e-3 at 50.)
- No exact repeats of any configuration in the history while the space allows it. Trials
  whose configuration is not in the space (a warm start's parent with other ranges) count as
  seen but stay out of the model.
- Restarts (``restarts``): once the search has converged (its best not improved by 1e-5 of
  itself in 30 trials) and a budget of at least 50 more trials remains, a new run starts: a
  random design of ``initial_points`` trials, then a model of that run's trials alone (a warm
  start's parents belong to the first run). A converged search is otherwise stuck at its
  minimum, local or not: a third of Hartmann6's 200-trial searches stayed at its local one.
  Too late for another run, the search goes back to a model of every trial.
- Cost: past ``FIT_LIMIT`` observations the kernel's hyperparameters are fitted on a subset
  of them (``fit_subset``); the posterior conditions on all. A suggestion then costs a fit of
  bounded size plus one Cholesky of the whole history.

``suggest`` depends only on the history and the seed; trial ``k``'s random streams are seeded
with ``(seed, k)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import scipy.special

from runner.tuning.search_space import CategoricalParameter, SearchSpace
from runner.tuning.strategies.batch_lbfgs import minimize_batched
from runner.tuning.strategies.feasibility import POWER, Feasibility
from runner.tuning.strategies.gp import (
    FloatArray,
    Posterior,
    fit_kernel,
    fit_subset,
    single_threaded_blas,
)
from runner.tuning.strategies.random_search import exhausted, fresh_sample, seen_keys, trial_rng
from runner.tuning.strategies.restarts import run_start
from runner.tuning.strategies.warping import warp
from runner.tuning.trials import Config, Direction, Trial

CANDIDATES = 512
# Kernel hyperparameters are fitted on at most this many observations (half the best, half
# spread over the rest, in trial order): each step of the fit is a Cholesky of that size,
# and 120 x 120 float64 matrices stay under glibc's 128 KiB mmap threshold. The posterior
# still conditions on every observation.
FIT_LIMIT = 120
REFINE_FTOL = 1e-3  # in log EI: a 0.1% change of EI is not worth another iteration
DESIGN_DRAWS = 32  # draws for a new run's design trial, where trials have failed
REFINE = 8  # local searches: the best candidate, the incumbent, and a roulette draw of others

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_SQRT_PI_2 = 0.5 * math.log(math.pi / 2.0)


def default_initial_points(dims: int, max_jobs: int | None) -> int:
    """Random trials before the model takes over: encoded dimensions + 4, between 3 and 10
    (Branin 6, Hartmann6 10), and no more than a third of ``MaxNumberOfTrainingJobs``."""
    points = max(3, min(dims + 4, 10))
    if max_jobs is not None:
        points = max(1, min(points, max_jobs // 3 or 1))
    return points


def _log1mexp(w: FloatArray) -> FloatArray:
    """log(1 - exp(w)) for w < 0, accurately."""
    out = np.empty_like(w)
    small = w > -math.log(2.0)
    out[small] = np.log(-np.expm1(w[small]))
    out[~small] = np.log1p(-np.exp(w[~small]))
    return out


def log_h(z: FloatArray) -> FloatArray:
    """log(phi(z) + z * Phi(z)): log EI of a unit Gaussian, stable for very negative z."""
    out = np.empty_like(z)
    upper = z > -1.0
    zu = z[upper]
    out[upper] = np.log(np.exp(-0.5 * zu * zu - _LOG_SQRT_2PI) + zu * scipy.special.ndtr(zu))
    near = (z <= -1.0) & (z >= -1e3)
    zn = z[near]
    w = np.log(-zn) + np.log(scipy.special.erfcx(-zn / math.sqrt(2.0))) + _LOG_SQRT_PI_2
    out[near] = -0.5 * zn * zn - _LOG_SQRT_2PI + _log1mexp(np.minimum(w, -1e-300))
    far = z < -1e3  # asymptotically phi(z) / z^2 * (1 - 3 / z^2)
    zf = z[far]
    out[far] = -0.5 * zf * zf - _LOG_SQRT_2PI - 2.0 * np.log(-zf) + np.log1p(-3.0 / (zf * zf))
    return out


def log_ei(post: Posterior, z: FloatArray, best: float) -> FloatArray:
    mean, var = post.predict(z)
    sd = np.sqrt(var)
    return np.log(sd) + log_h((best - mean) / sd)


def log_ei_grad(post: Posterior, z: FloatArray, best: float) -> tuple[FloatArray, FloatArray]:
    mean, var, dmean, dvar = post.predict_grad(z)
    sd = np.sqrt(var)
    u = (best - mean) / sd
    lh = log_h(u)
    dlh = np.exp(scipy.special.log_ndtr(u) - lh)
    dsd = dvar / (2.0 * sd[:, None])
    du = (-dmean - u[:, None] * dsd) / sd[:, None]
    return np.log(sd) + lh, dsd / sd[:, None] + dlh[:, None] * du


@dataclass(frozen=True)
class Acquisition:
    """Log expected improvement over ``best``, plus the log of the probability that the
    configuration runs at all when some trials have failed (``feasible``)."""

    post: Posterior
    best: float
    feasible: Feasibility | None = None

    def value(self, z: FloatArray) -> FloatArray:
        value = log_ei(self.post, z, self.best)
        return value if self.feasible is None else value + self.feasible.log_prob(z)

    def value_grad(self, z: FloatArray) -> tuple[FloatArray, FloatArray]:
        value, grad = log_ei_grad(self.post, z, self.best)
        if self.feasible is None:
            return value, grad
        fvalue, fgrad = self.feasible.log_prob_grad(z)
        return value + fvalue, grad + fgrad


class BayesianSearch:
    def __init__(
        self,
        space: SearchSpace,
        direction: Direction,
        *,
        seed: int,
        max_jobs: int | None = None,
        initial_points: int | None = None,
        fit_limit: int | None = FIT_LIMIT,
        restarts: bool = True,
        slots: int = 1,
        definitions: int = 1,
    ) -> None:
        """``slots``: ``MaxParallelTrainingJobs``; ``definitions``: the tuning job's training
        job definitions, which take turns (this search suggests a share of ``max_jobs`` and
        of the slots)."""
        self.space = space
        self.direction = direction
        self.seed = seed
        self.initial_points = initial_points or default_initial_points(space.dims, max_jobs)
        self.fit_limit = fit_limit  # None: fit on every observation (the exact cost)
        self.restarts = restarts  # False: one run, however long it has converged (before)
        # the trials of this search still running when one of its runs ends (fixed: the
        # number running now grows as the tuner fills its slots one suggestion at a time)
        self.lag = max(1, math.ceil(slots / definitions)) - 1
        self.budget = None if max_jobs is None else math.ceil(max_jobs / definitions)
        self._relaxed = ~space.categorical_dims  # continuous and integer: refined by L-BFGS
        self._has_discrete = bool(space.discrete_dims.any())

    def suggest(self, history: Sequence[Trial], count: int) -> list[Config]:
        with single_threaded_blas():
            return self._suggest(history, count)

    def _suggest(self, history: Sequence[Trial], count: int) -> list[Config]:
        seen = seen_keys(self.space, history)
        run = self._run(history)
        ran = [
            t
            for t in history
            if t.finished
            and t.objective is not None
            and math.isfinite(t.objective)
            and self.space.contains(t.config)
        ]
        members = {id(t) for t in run}
        observed = ran if run is history else [t for t in ran if id(t) in members]
        failed = [t for t in history
                  if t.finished and t.failed_by_config and self.space.contains(t.config)]
        batch: list[Config] = []
        acq: Acquisition | None = None
        incumbent = np.zeros(self.space.dims)
        feasible: Feasibility | None = None
        if failed and (run is not history or len(run) + count > self.initial_points):
            # the chance to run, from every trial's outcome (not only this run's)
            feasible = Feasibility(self.space.encode_many([t.config for t in ran]),
                                   self.space.encode_many([t.config for t in failed]),
                                   trial_rng(self.seed, len(history), 4), self.fit_limit)
        for j in range(max(count, 0)):
            number = len(history) + j
            if len(run) + j < self.initial_points or len(observed) < 2:
                late = run is not history or len(run) + j >= self.initial_points
                config = self._draw(number, seen, feasible if late else None)
            else:
                if acq is None:
                    acq, incumbent = self._model(history, observed, feasible)
                rng = trial_rng(self.seed, number, 1)
                config = self._acquire(acq, incumbent, rng, seen)
                if j + 1 < count:
                    x = self.space.encode(config)[None, :]
                    acq = replace(acq, post=acq.post.condition(x, acq.post.predict(x)[0]))
            seen.add(self.space.key(config))
            batch.append(config)
        return batch

    def _run(self, history: Sequence[Trial]) -> Sequence[Trial]:
        """The current run's trials (``restarts``): the whole history in the first run;
        after a restart, the job's own trials (a warm start's parents are numbered below
        zero) from the run's first, by number. Runs are told from the finished trials
        before the first one still running, so one that ends late moves no run's start; the
        trials running while a run's end became known (``lag``: the other slots') were
        suggested by that run and belong to neither."""
        if not self.restarts:
            return history
        own = sorted((t for t in history if t.number >= 0), key=lambda t: t.number)
        losses = []
        for index, t in enumerate(own):
            if not t.finished:
                break
            if not self.space.contains(t.config):
                continue
            if t.objective is not None and math.isfinite(t.objective):
                losses.append((index, self.direction.loss(t.objective)))
            elif t.failed_by_config:
                losses.append((index, math.inf))
        start = run_start(losses, max_jobs=self.budget, lag=self.lag)
        return history if start == 0 else own[start:]

    def _draw(self, number: int, seen: set[tuple[str, ...]],
              feasible: Feasibility | None) -> Config:
        """Trial ``number``'s random draw. Past the first design, where trials have failed
        (``feasible``), the first of up to ``DESIGN_DRAWS`` draws at least as likely to run
        as not, else the likeliest: a restart does not pay again for the failing regions."""
        rng = trial_rng(self.seed, number)
        config = fresh_sample(self.space, rng, seen)
        if feasible is None:
            return config
        draws = [config] + [fresh_sample(self.space, rng, seen) for _ in range(DESIGN_DRAWS - 1)]
        chances = feasible.log_prob(self.space.encode_many(draws))  # one prediction for all
        likely = np.flatnonzero(chances >= POWER * math.log(0.5))
        return draws[int(likely[0]) if likely.size else int(np.argmax(chances))]

    def _model(
        self, history: Sequence[Trial], observed: list[Trial], feasible: Feasibility | None
    ) -> tuple[Acquisition, FloatArray]:
        """The acquisition: the loss model of ``observed`` (the run's trials that ran),
        weighed by ``feasible`` when some trials of the job failed."""
        x = self.space.encode_many([t.config for t in observed])
        losses = np.array([self.direction.loss(float(t.objective or 0.0)) for t in observed])
        y = warp(losses)
        y -= y.max()  # the GP's prior mean (zero) is now the worst loss seen: see above
        best_at = x[int(np.argmin(y))]
        fit = fit_subset(len(y), y, self.fit_limit)
        kernel = fit_kernel(x[fit], y[fit], trial_rng(self.seed, len(history), 3))
        post = Posterior(x, y, kernel)
        running = [t.config for t in history if t.status.running and self.space.contains(t.config)]
        if running:
            xr = self.space.encode_many(running)
            post = post.condition(xr, post.predict(xr)[0])
        return Acquisition(post, float(y.min()), feasible), best_at

    def _acquire(
        self,
        acq: Acquisition,
        incumbent: FloatArray,
        rng: np.random.Generator,
        seen: set[tuple[str, ...]],
    ) -> Config:
        space = self.space
        pool = space.encode_unit(rng.random((CANDIDATES, len(space.parameters))))
        values = acq.value(pool)
        starts = np.vstack([pool[self._starts(values, rng)], incumbent[None, :]])
        refined = self._refine(acq, starts)
        if self._has_discrete:
            top = refined[int(np.argmax(acq.value(refined)))]
            refined = np.vstack([refined, self._neighbours(top), self._neighbours(incumbent)])
        pool = np.vstack([refined, pool])
        values = np.concatenate([acq.value(refined), values])
        exhausted_space = exhausted(space, seen)
        for index in np.argsort(-values, kind="stable"):
            config = space.decode(pool[index])
            if exhausted_space or space.key(config) not in seen:
                return config
        return fresh_sample(space, rng, seen)

    @staticmethod
    def _starts(values: FloatArray, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """The best candidate plus a roulette draw (weights proportional to EI) of others."""
        first = int(np.argmax(values))
        weights = np.exp(values - values[first])
        weights[first] = 0.0
        weights = np.where(np.isfinite(weights), weights, 0.0)
        others = min(REFINE - 2, int(np.count_nonzero(weights > 0)))
        if others <= 0:
            return np.array([first])
        picked = rng.choice(len(values), size=others, replace=False, p=weights / weights.sum())
        return np.concatenate([[first], picked]).astype(np.int64)

    def _neighbours(self, x: FloatArray) -> FloatArray:
        """``x`` with one integer moved by one step or one categorical switched to another
        value (the local moves the continuous refinement cannot make)."""
        config = self.space.decode(x)
        moves: list[Config] = []
        for p in self.space.parameters:
            if isinstance(p, CategoricalParameter):
                moves += [{**config, p.name: v} for v in p.values if v != config[p.name]]
            elif p.integer:
                value = int(config[p.name])
                moves += [
                    {**config, p.name: v}
                    for v in (value - 1, value + 1)
                    if p.minimum <= v <= p.maximum
                ]
        if not moves:
            return np.zeros((0, self.space.dims))
        return self.space.encode_many(moves)

    def _refine(self, acq: Acquisition, starts: FloatArray) -> FloatArray:
        """Local maximisation of log EI from each start over the continuous and integer
        dimensions (integers relaxed to the continuum, then rounded: a wide range is refined
        over all of it, not a step at a time), in coordinates scaled by the inverse
        lengthscales (better conditioned), then snapped; categorical dimensions keep their
        values."""
        cont = self._relaxed
        if not cont.any():
            return starts
        root = np.sqrt(acq.post.kernel.eta[cont])
        fixed = starts.copy()

        def negative(
            scaled: FloatArray, rows: npt.NDArray[np.int64]
        ) -> tuple[FloatArray, FloatArray]:
            x = fixed[rows].copy()
            x[:, cont] = scaled / root
            value, grad = acq.value_grad(x)
            grad = np.where(np.isfinite(grad[:, cont]), grad[:, cont], 0.0) / root
            return -value, -grad

        scaled, _ = minimize_batched(
            negative, starts[:, cont] * root, np.zeros_like(root), root, gtol=1e-3, ftol=REFINE_FTOL
        )
        refined = fixed.copy()
        refined[:, cont] = scaled / root
        return self.space.snap(np.clip(refined, 0.0, 1.0))
