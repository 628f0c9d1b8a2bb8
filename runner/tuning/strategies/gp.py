"""Gaussian-process regression on the unit hypercube, for Bayesian search.

Kernel: ``scale * Matern52(r)`` with automatic relevance determination,
``r^2 = sum_j eta_j (x_j - x'_j)^2`` (``eta_j`` = 1 / lengthscale_j^2), plus ``noise`` on the
diagonal (at least ``MIN_NOISE``). Kernel hyperparameters are the maximum a posteriori
estimate under weak priors (``-(0.1 / eta + 0.1 * eta)`` on each inverse squared
lengthscale, Gamma(2, 1) on the scale, Gamma(1.1, 30) on the noise: Optuna's GP sampler's),
found by L-BFGS-B in log space with analytic gradients. Starting points: the default (unit
lengthscales and scale, noise 0.01) and ``STARTS - 1`` seeded random ones, scored by the
objective alone (one Cholesky each); L-BFGS-B runs from the best ``RESTARTS`` of them. The
prior mean is zero: targets should be on a unit scale (see ``warping``).

Everything is numpy/scipy on small dense matrices, LAPACK called directly (``potrf``,
``potrs``, ``potri``) and BLAS held to one thread while a strategy works: a fit takes a few
milliseconds for a hundred observations.
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.optimize
from scipy.linalg import lapack

FloatArray = npt.NDArray[np.float64]

SQRT5 = math.sqrt(5.0)
MIN_NOISE = 1e-6
_LOG_ETA_BOUNDS = (math.log(1e-3), math.log(1e4))
_LOG_SCALE_BOUNDS = (math.log(1e-2), math.log(1e2))
_LOG_NOISE_BOUNDS = (math.log(1e-9), math.log(1.0))
_FAILED = 1e25
DEFAULT_LOG_NOISE = math.log(1e-2)
GTOL = 1e-3
STARTS = 4  # starting points scored
RESTARTS = 1  # L-BFGS-B runs, from the best-scored starting points


@functools.cache
def _blas_controller() -> Any:
    try:
        import threadpoolctl
    except ImportError:
        return None
    return threadpoolctl.ThreadpoolController()


def single_threaded_blas() -> contextlib.AbstractContextManager[object]:
    """Hold BLAS to one thread (when threadpoolctl is installed): these matrices are small, and
    OpenBLAS threads on two busy cores make a 50x50 inverse ~30 times slower, not faster."""
    controller = _blas_controller()
    if controller is None:
        return contextlib.nullcontext()
    limited: contextlib.AbstractContextManager[object] = controller.limit(limits=1, user_api="blas")
    return limited


def matern52(q: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Matern-5/2 of squared distances ``q`` and its derivative with respect to ``q``."""
    s = np.sqrt(5.0 * np.maximum(q, 0.0))
    e = np.exp(-s)
    return (1.0 + s + s * s / 3.0) * e, (-5.0 / 6.0) * (1.0 + s) * e


def matern52_value(q: FloatArray) -> FloatArray:
    """Matern-5/2 of squared distances ``q`` (modified in place)."""
    np.maximum(q, 0.0, out=q)
    q *= 5.0
    s = np.sqrt(q, out=q)
    e = np.exp(-s)
    s2 = s * s
    s2 /= 3.0
    s2 += s
    s2 += 1.0
    s2 *= e
    return s2


@dataclass(frozen=True)
class Kernel:
    eta: FloatArray  # inverse squared lengthscales, one per encoded dimension
    scale: float
    noise: float

    def gram(self, a: FloatArray, b: FloatArray) -> FloatArray:
        """Kernel matrix (no noise) between rows of ``a`` and ``b``."""
        root = np.sqrt(self.eta)
        sa, sb = a * root, b * root
        q = sa @ sb.T
        q *= -2.0
        q += (sa * sa).sum(1)[:, None]
        q += (sb * sb).sum(1)[None, :]
        k = matern52_value(q)
        k *= self.scale
        return k


def cholesky(gram: FloatArray) -> FloatArray | None:
    """Lower Cholesky factor, or None when ``gram`` is not positive definite.

    LAPACK directly: scipy.linalg.cho_solve with a matrix right-hand side is ten times slower
    on two cores (OpenBLAS threading) than potri, and these matrices are small."""
    chol, info = lapack.dpotrf(gram, lower=1, clean=1)
    return None if info != 0 else np.asarray(chol, dtype=np.float64)


def solve_and_invert(chol: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``K^-1 y`` and ``K^-1`` from the Cholesky factor of ``K``."""
    alpha, _ = lapack.dpotrs(chol, y, lower=1)
    lower, _ = lapack.dpotri(chol, lower=1)
    inv = np.tril(lower) + np.tril(lower, -1).T
    return np.asarray(alpha, dtype=np.float64), inv


def _unpack(theta: FloatArray, dims: int) -> Kernel:
    return Kernel(np.exp(theta[:dims]), math.exp(theta[dims]),
                  MIN_NOISE + math.exp(theta[dims + 1]))


def _neg_log_posterior(
    theta: FloatArray, sq: FloatArray, y: FloatArray, with_grad: bool
) -> tuple[float, FloatArray]:
    """Negative log marginal likelihood minus log prior, and its gradient in ``theta``.

    ``sq`` holds the per-dimension squared differences, shape (n * n, dims)."""
    n, dims = y.shape[0], sq.shape[1]
    eta = np.exp(theta[:dims])
    scale = math.exp(theta[dims])
    raw_noise = math.exp(theta[dims + 1])
    noise = MIN_NOISE + raw_noise
    k, dk = matern52((sq @ eta).reshape(n, n))
    gram = scale * k
    gram.flat[:: n + 1] += noise
    chol = cholesky(gram)
    if chol is None:
        return _FAILED, np.zeros_like(theta)
    alpha = np.asarray(lapack.dpotrs(chol, y, lower=1)[0], dtype=np.float64)
    value = 0.5 * float(y @ alpha) + float(np.log(np.diag(chol)).sum())
    # Priors: -(0.1/eta + 0.1*eta), Gamma(2, 1) on scale, Gamma(1.1, 30) on noise.
    value += float((0.1 / eta + 0.1 * eta).sum())
    value -= math.log(scale) - scale
    value -= 0.1 * math.log(noise) - 30.0 * noise
    if not with_grad:
        return value, theta
    # W = K^-1 - alpha alpha^T; potri leaves K^-1 in the lower triangle only (zeros above),
    # and every matrix W is multiplied with below is symmetric, so sum(W * A) is
    # sum((2 * lower - alpha alpha^T) * A) less the diagonal of K^-1 times that of A.
    lower = lapack.dpotri(chol, lower=1)[0]
    diag_inv = np.diag(lower)
    outer = np.outer(alpha, alpha)
    half_w = 2.0 * lower - outer
    grad = np.empty_like(theta)
    grad[:dims] = 0.5 * scale * eta * (sq.T @ (half_w * dk).ravel())  # diag(sq) == 0
    grad[dims] = 0.5 * scale * (float((half_w * k).sum()) - float(diag_inv.sum()))  # diag(k) == 1
    grad[dims + 1] = 0.5 * (float(diag_inv.sum()) - float(alpha @ alpha)) * raw_noise
    grad[:dims] += -0.1 / eta + 0.1 * eta
    grad[dims] -= 1.0 - scale
    grad[dims + 1] -= (0.1 / noise - 30.0) * raw_noise
    return value, grad


def fit_subset(n: int, y: FloatArray, limit: int | None) -> npt.NDArray[np.int64]:
    """The observations the kernel is fitted on: all of them up to ``limit``; past it the
    ``limit // 2`` best (lowest ``y``) and the rest spread evenly over the others in trial
    order (a deterministic choice: the same history, the same kernel)."""
    every = np.arange(n)
    if limit is None or n <= limit:
        return every
    order = np.argsort(y, kind="stable")
    best = np.sort(order[: limit // 2])
    others = np.setdiff1d(every, best)
    spread = others[np.linspace(0, len(others) - 1, limit - len(best)).round().astype(np.int64)]
    return np.union1d(best, spread).astype(np.int64)


def fit_kernel(
    x: FloatArray,
    y: FloatArray,
    rng: np.random.Generator,
    *,
    starts: int = STARTS,
    restarts: int = RESTARTS,
) -> Kernel:
    """MAP kernel hyperparameters for observations ``x`` (n, dims) and targets ``y`` (n,)."""
    dims = x.shape[1]
    sq = ((x[:, None, :] - x[None, :, :]) ** 2).reshape(-1, dims)
    default = np.concatenate([np.zeros(dims), [0.0, DEFAULT_LOG_NOISE]])
    inits = [default]
    for _ in range(starts - 1):
        inits.append(
            np.concatenate(
                [rng.uniform(-2.0, 3.0, dims), [rng.uniform(-1.0, 1.0), rng.uniform(-9.0, -2.0)]]
            )
        )
    scored = sorted(inits, key=lambda t: _neg_log_posterior(t, sq, y, False)[0])
    bounds = [_LOG_ETA_BOUNDS] * dims + [_LOG_SCALE_BOUNDS, _LOG_NOISE_BOUNDS]
    best_theta, best_value = scored[0], math.inf
    for theta0 in scored[:restarts]:
        result = scipy.optimize.minimize(
            _neg_log_posterior,
            theta0,
            args=(sq, y, True),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 200, "gtol": GTOL},
        )
        if float(result.fun) < best_value:
            best_theta, best_value = np.asarray(result.x, dtype=np.float64), float(result.fun)
    return _unpack(best_theta, dims)


class Posterior:
    """The GP conditioned on observations ``(x, y)`` under a fixed kernel."""

    def __init__(self, x: FloatArray, y: FloatArray, kernel: Kernel) -> None:
        self.x, self.y, self.kernel = x, y, kernel
        n = x.shape[0]
        gram = kernel.gram(x, x)
        gram.flat[:: n + 1] += kernel.noise
        chol = cholesky(gram)
        for jitter in (1e-10, 1e-8, 1e-6, 1e-4, 1e-2):
            if chol is not None:
                break
            chol = cholesky(gram + jitter * kernel.scale * np.eye(n))
        if chol is None:
            raise np.linalg.LinAlgError("kernel matrix is not positive definite")
        self._alpha, self._inv = solve_and_invert(chol, y)

    def predict(self, z: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Posterior mean and variance (of the latent function) at rows of ``z``."""
        kz = self.kernel.gram(z, self.x)
        mean = kz @ self._alpha
        var = self.kernel.scale - np.einsum("ij,ij->i", kz @ self._inv, kz)
        return mean, np.maximum(var, 1e-12)

    def predict_grad(
        self, z: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Mean, variance and their gradients (m, dims) at rows of ``z``."""
        eta, scale = self.kernel.eta, self.kernel.scale
        diff = z[:, None, :] - self.x[None, :, :]
        k, dk = matern52((diff * diff) @ eta)
        kz = scale * k
        dkz = (2.0 * scale) * dk[:, :, None] * diff * eta  # (m, n, dims)
        mean = kz @ self._alpha
        dmean = np.einsum("mnd,n->md", dkz, self._alpha)
        solved = kz @ self._inv
        var = scale - np.einsum("ij,ij->i", solved, kz)
        dvar = -2.0 * np.einsum("mnd,mn->md", dkz, solved)
        return mean, np.maximum(var, 1e-12), dmean, dvar

    def condition(self, x_new: FloatArray, y_new: FloatArray) -> Posterior:
        """The posterior with extra observations (a kriging believer's fantasies)."""
        return Posterior(np.vstack([self.x, x_new]), np.concatenate([self.y, y_new]), self.kernel)
