"""Bayesian search: a Gaussian process on the encoded unit cube and log expected improvement.

- Initial design: the first ``initial_points`` trials are points of a scrambled Sobol sequence
  seeded with the job's seed (trial ``k`` gets point ``k``); later trials fall back to seeded
  random draws while fewer than two trials have a finite objective.
- Model: every finished trial with a finite objective (Completed or Stopped), its
  ``Direction.loss`` standardised; failed trials are left out (but never suggested again).
  See ``runner.strategies.gp`` for the kernel and its fit.
- Acquisition: log expected improvement over the best observed loss, maximised over seeded
  uniform candidates plus Gaussian perturbations of the best trials, then refined by L-BFGS-B
  over the continuous dimensions (integer and categorical dimensions stay at the candidate's
  snapped values: rounding/one-hot decoding then re-encoding).
- Parallel slots: running trials (Pending/InProgress) and the batch's own earlier picks are
  added to the model with the posterior mean as their value (kriging believer), which
  shrinks the variance there so the batch spreads out.
- No exact repeats of any configuration in the history while the space allows it.

``suggest`` depends only on the history and the seed; trial ``k``'s random streams are seeded
with ``(seed, k)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.optimize
import scipy.special
from scipy.stats import qmc

from runner.search_space import SearchSpace
from runner.strategies.gp import FloatArray, Posterior, fit_kernel
from runner.strategies.random_search import exhausted, fresh_sample, seen_keys, trial_rng
from runner.trials import Config, Direction, Trial

UNIFORM_CANDIDATES = 512
LOCAL_CANDIDATES = 64  # per best trial
LOCAL_TOP = 4
LOCAL_SCALES = (0.1, 0.02, 0.004)
REFINE = 4

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_SQRT_PI_2 = 0.5 * math.log(math.pi / 2.0)


def default_initial_points(dims: int, max_jobs: int | None) -> int:
    points = max(3, min(dims + 1, 10))
    if max_jobs is not None:
        points = max(1, min(points, max_jobs // 3 or 1))
    return points


def _log1mexp(w: FloatArray) -> FloatArray:
    """log(1 - exp(w)) for w < 0, accurately."""
    return np.where(w > -math.log(2.0), np.log(-np.expm1(w)), np.log1p(-np.exp(w)))


def log_h(z: FloatArray) -> FloatArray:
    """log(phi(z) + z * Phi(z)): log EI of a unit Gaussian, stable for very negative z."""
    out = np.empty_like(z)
    upper = z > -1.0
    zu = z[upper]
    out[upper] = np.log(np.exp(-0.5 * zu * zu - _LOG_SQRT_2PI) + zu * scipy.special.ndtr(zu))
    zl = z[~upper]
    log_phi = -0.5 * zl * zl - _LOG_SQRT_2PI
    far = zl < -1e3
    w = np.log(-zl) + np.log(scipy.special.erfcx(-zl / math.sqrt(2.0))) + _LOG_SQRT_PI_2
    near_value = log_phi + _log1mexp(np.minimum(w, -1e-300))
    far_value = log_phi - 2.0 * np.log(-zl) + np.log1p(-3.0 / (zl * zl))
    out[~upper] = np.where(far, far_value, near_value)
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


class BayesianSearch:
    def __init__(
        self,
        space: SearchSpace,
        direction: Direction,
        *,
        seed: int,
        max_jobs: int | None = None,
        initial_points: int | None = None,
    ) -> None:
        self.space = space
        self.direction = direction
        self.seed = seed
        self.initial_points = initial_points or default_initial_points(space.dims, max_jobs)
        self._continuous = ~space.discrete_dims

    def suggest(self, history: Sequence[Trial], count: int) -> list[Config]:
        seen = seen_keys(self.space, history)
        observed = [
            t
            for t in history
            if t.finished and t.objective is not None and math.isfinite(t.objective)
        ]
        batch: list[Config] = []
        post: Posterior | None = None
        best = 0.0
        for j in range(max(count, 0)):
            number = len(history) + j
            rng = trial_rng(self.seed, number, 1)
            if number < self.initial_points or len(observed) < 2:
                config = self._initial(number, rng, seen)
            else:
                if post is None:
                    post, best = self._model(history, observed)
                config = self._acquire(post, best, rng, seen)
                x = self.space.encode(config)[None, :]
                post = post.condition(x, post.predict(x)[0])
            seen.add(self.space.key(config))
            batch.append(config)
        return batch

    def _initial(self, number: int, rng: np.random.Generator, seen: set[tuple[str, ...]]) -> Config:
        if number >= self.initial_points:
            return fresh_sample(self.space, rng, seen)
        sobol = qmc.Sobol(len(self.space.parameters), scramble=True, rng=trial_rng(self.seed, 0, 2))
        points = sobol.random_base2(max(1, math.ceil(math.log2(self.initial_points))))
        config = self.space.from_unit(points[number])
        if self.space.key(config) in seen and not exhausted(self.space, seen):
            return fresh_sample(self.space, rng, seen)
        return config

    def _model(self, history: Sequence[Trial], observed: list[Trial]) -> tuple[Posterior, float]:
        x = self.space.encode_many([t.config for t in observed])
        losses = np.array([self.direction.loss(float(t.objective or 0.0)) for t in observed])
        sd = float(losses.std())
        y = (losses - losses.mean()) / (sd if sd > 0 else 1.0)
        kernel = fit_kernel(x, y, trial_rng(self.seed, len(history), 3))
        post = Posterior(x, y, kernel)
        running = [t.config for t in history if t.status.running]
        if running:
            xr = self.space.encode_many(running)
            post = post.condition(xr, post.predict(xr)[0])
        return post, float(y.min())

    def _acquire(
        self,
        post: Posterior,
        best: float,
        rng: np.random.Generator,
        seen: set[tuple[str, ...]],
    ) -> Config:
        space, dims = self.space, self.space.dims
        candidates = [space.encode_unit(rng.random((UNIFORM_CANDIDATES, len(space.parameters))))]
        n_real = post.x.shape[0]
        order = np.argsort(post.y[:n_real])[:LOCAL_TOP]
        scales = np.array(LOCAL_SCALES)[rng.integers(0, len(LOCAL_SCALES), (len(order), LOCAL_CANDIDATES, 1))]
        local = post.x[order][:, None, :] + rng.normal(size=(len(order), LOCAL_CANDIDATES, dims)) * scales
        candidates.append(space.snap(np.clip(local.reshape(-1, dims), 0.0, 1.0)))
        pool = np.vstack(candidates)
        values = log_ei(post, pool, best)
        top = pool[np.argsort(-values)[:REFINE]]
        refined = self._refine(post, best, top)
        pool = np.vstack([refined, pool])
        values = np.concatenate([log_ei(post, refined, best), values])
        exhausted_space = exhausted(space, seen)
        for index in np.argsort(-values, kind="stable"):
            config = space.decode(pool[index])
            if exhausted_space or space.key(config) not in seen:
                return config
        return fresh_sample(space, rng, seen)

    def _refine(self, post: Posterior, best: float, starts: FloatArray) -> FloatArray:
        """Local L-BFGS-B from each start over the continuous dimensions (jointly, as the
        starts do not interact), then snapped."""
        if not self._continuous.any():
            return starts
        m, dims = starts.shape
        lower = np.where(self._continuous, 0.0, starts).ravel()
        upper = np.where(self._continuous, 1.0, starts).ravel()

        def objective(flat: FloatArray) -> tuple[float, FloatArray]:
            value, grad = log_ei_grad(post, flat.reshape(m, dims), best)
            grad = np.where(np.isfinite(grad), grad, 0.0) * self._continuous
            return -float(value.sum()), -grad.ravel()

        result = scipy.optimize.minimize(
            objective,
            starts.ravel(),
            jac=True,
            method="L-BFGS-B",
            bounds=list(zip(lower, upper, strict=True)),
            options={"maxiter": 100},
        )
        return self.space.snap(np.asarray(result.x, dtype=np.float64).reshape(m, dims))
