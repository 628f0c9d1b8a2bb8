"""Output warping for the GP: standardise the losses, then a Yeo-Johnson power transform
fitted by maximum likelihood, then standardise again (as HEBO does); or, for positive losses
spanning orders of magnitude (``SPAN``), a Box-Cox transform fitted on their logarithms,
whichever of the two explains the losses better (the larger profile likelihood of the losses
themselves, each with its own Jacobian).

Heavy tails hurt a stationary GP: on Branin a few losses near 300 set the scale, and the
differences that matter near the minimum (0.4 against 2) become noise. The power transform
makes the losses closer to Gaussian; it is monotone, so the best trial stays the best. A
tail of many orders of magnitude (exp(5 (H3 + 3.86)): 1 at the minimum, 2e8 at the worst)
standardises every good loss to the same value before Yeo-Johnson can see them apart; Box-Cox
on the logarithms (lambda near 0 is the logarithm itself) keeps them apart, and never
overflows: a loss of 1e300, whose square standardising would overflow, is a log of 691.

The exponent is chosen on a grid and polished by a parabola through the best three grid
points: scipy.stats.yeojohnson's Brent search costs ~8 ms a call here, this ~0.1 ms.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_GRID = np.linspace(-2.0, 4.0, 61)
# Box-Cox is a candidate only for positive losses spanning more than this ratio (or too large
# to standardise): on Branin (0.4 to 300) the likelihood prefers it, and the search then does
# far worse (regret 0.06 against 2.5e-5 at 50 trials)
SPAN = 1e4
_EPS = 1e-8


def standardise(values: FloatArray) -> FloatArray:
    """Mean 0, variance 1 (just centred when all values are equal)."""
    sd = float(values.std())
    centred: FloatArray = values - values.mean()
    return centred / (sd if sd > 0 else 1.0)


def yeo_johnson(x: FloatArray, lmbda: FloatArray) -> FloatArray:
    """The Yeo-Johnson transform of ``x`` (n,) for each exponent in ``lmbda`` (k,): (k, n)."""
    lam = np.asarray(lmbda, dtype=np.float64)[:, None]
    log1p_abs = np.log1p(np.abs(x))[None, :]
    positive = (x >= 0)[None, :]
    near0 = np.abs(lam) < _EPS
    near2 = np.abs(lam - 2.0) < _EPS
    safe = np.where(near0, 1.0, lam)
    safe2 = np.where(near2, 1.0, 2.0 - lam)
    pos = np.where(near0, log1p_abs, np.expm1(lam * log1p_abs) / safe)
    neg = np.where(near2, -log1p_abs, -np.expm1((2.0 - lam) * log1p_abs) / safe2)
    out: FloatArray = np.where(positive, pos, neg)
    return out


def _log_likelihood(x: FloatArray, lmbda: FloatArray) -> FloatArray:
    transformed = yeo_johnson(x, lmbda)
    variance = np.maximum(transformed.var(axis=1), 1e-300)
    jacobian = (np.sign(x) * np.log1p(np.abs(x))).sum()
    result: FloatArray = -0.5 * x.shape[0] * np.log(variance) + (np.asarray(lmbda) - 1.0) * jacobian
    return result


def fit_exponent(x: FloatArray) -> float:
    """The maximum-likelihood Yeo-Johnson exponent for ``x`` (within [-2, 4])."""
    return _best_exponent(_log_likelihood(x, _GRID))


def box_cox_of_logs(logs: FloatArray, lmbda: FloatArray) -> FloatArray:
    """Box-Cox of ``exp(logs)`` (n,) for each exponent in ``lmbda`` (k,): (k, n); infinite
    where ``lmbda * logs`` is too large to exponentiate."""
    lam = np.asarray(lmbda, dtype=np.float64)[:, None]
    near0 = np.abs(lam) < _EPS
    with np.errstate(over="ignore", invalid="ignore"):
        out: FloatArray = np.where(near0, logs[None, :],
                                   np.expm1(lam * logs[None, :]) / np.where(near0, 1.0, lam))
    return out


def _box_cox_likelihood(logs: FloatArray, lmbda: FloatArray) -> FloatArray:
    """The profile log-likelihood of Box-Cox exponents for losses whose logarithms (centred:
    the losses divided by their geometric mean) are ``logs``."""
    transformed = box_cox_of_logs(logs, lmbda)
    with np.errstate(over="ignore", invalid="ignore"):
        variance = transformed.var(axis=1)
    out: FloatArray = np.where(np.isfinite(variance),
                               -0.5 * logs.shape[0] * np.log(np.maximum(variance, 1e-300)),
                               -np.inf)
    return out


def _best_exponent(ll: FloatArray) -> float:
    """The grid's best exponent, polished by a parabola through its neighbours."""
    i = int(np.clip(np.argmax(ll), 1, len(_GRID) - 2))
    y0, y1, y2 = ll[i - 1], ll[i], ll[i + 1]
    curvature = y0 - 2.0 * y1 + y2
    step = float(_GRID[1] - _GRID[0])
    if curvature >= 0 or not np.isfinite(curvature):
        return float(_GRID[int(np.argmax(ll))])
    offset = 0.5 * (y0 - y2) / curvature
    return float(_GRID[i] + np.clip(offset, -1.0, 1.0) * step)


def warp(losses: FloatArray) -> FloatArray:
    """The losses, warped for the GP (monotone in ``losses``; see the module's notes)."""
    n = losses.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):
        sd = float(losses.std())
    usable = math.isfinite(sd)  # (else a loss past ~1e154: its square overflows)
    if usable and (n < 3 or sd == 0.0):
        return standardise(losses)
    z = standardise(losses) if usable else np.zeros(n)
    best, best_ll = None, -np.inf
    if usable:
        exponent = fit_exponent(z)
        best = yeo_johnson(z, np.array([exponent]))[0]
        best_ll = float(_log_likelihood(z, np.array([exponent]))[0]) - n * math.log(sd)
    if bool((losses > 0).all()) and (not usable or float(losses.max() / losses.min()) > SPAN):
        logs = np.log(losses)
        log_g = float(logs.mean())
        logs -= log_g  # the losses over their geometric mean g: Box-Cox's Jacobian term is 0
        exponent = _best_exponent(_box_cox_likelihood(logs, _GRID))
        value = float(_box_cox_likelihood(logs, np.array([exponent]))[0]) - n * log_g
        if value > best_ll:  # (both likelihoods of the losses themselves: comparable)
            best, best_ll = box_cox_of_logs(logs, np.array([exponent]))[0], value
    if best is None or not np.isfinite(best).all():  # huge, and some not positive: their ranks
        return z if usable else standardise(np.argsort(np.argsort(losses)).astype(np.float64))
    return standardise(best)
