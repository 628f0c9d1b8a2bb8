"""Independent box-constrained minimisations run side by side (a batched projected L-BFGS).

``minimize_batched(fun, x0, lower, upper)`` minimises ``fun`` from every row of ``x0`` at once:
each row keeps its own curvature memory, step length and convergence, but every evaluation of
``fun`` is one vectorised call over the rows still moving. One L-BFGS-B over the rows stacked
into a single vector would share one line search and one Hessian approximation between
unrelated problems and stall the poorly scaled ones; a scipy call per row would spend its time
in Python overhead.

Method: projected L-BFGS. Variables at a bound whose gradient points outwards are held; the
two-loop recursion runs on the others; a projected Armijo backtracking line search picks the
step (the first step of a row is scaled to length ``first_step``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
BatchFunction = Callable[[FloatArray, IntArray], tuple[FloatArray, FloatArray]]

_ARMIJO = 1e-4
_MAX_BACKTRACKS = 6
_SHRINK = 0.25


def minimize_batched(
    fun: BatchFunction,
    x0: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    *,
    max_iter: int = 20,
    memory: int = 4,
    gtol: float = 1e-4,
    ftol: float = 1e-9,
    first_step: float = 0.1,
) -> tuple[FloatArray, FloatArray]:
    """Minimise ``fun`` from each row of ``x0`` (B, d) within ``[lower, upper]`` (per dimension
    or per entry); ``fun(x, rows)`` returns values (m,) and gradients (m, d) at points ``x``
    (m, d) of the problems numbered ``rows`` (m,).
    A row stops when its projected gradient is below ``gtol``, when an iteration lowers its
    value by no more than ``ftol`` (absolute), or when no step lowers it. Returns the final
    points and values."""
    x = np.clip(np.array(x0, dtype=np.float64), lower, upper)
    lo = np.broadcast_to(lower, x.shape)
    hi = np.broadcast_to(upper, x.shape)
    rows, dims = x.shape
    f, g = fun(x, np.arange(x.shape[0]))
    s_mem = np.zeros((rows, memory, dims))
    y_mem = np.zeros((rows, memory, dims))
    filled = np.zeros(rows, dtype=np.int64)
    active = np.ones(rows, dtype=np.bool_)
    for _ in range(max_iter):
        free = ~(((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0)))
        pg = np.where(free, g, 0.0)
        active &= np.abs(pg).max(axis=1) > gtol
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        d = -_two_loop(pg[idx], s_mem[idx], y_mem[idx], filled[idx], free[idx])
        descent = (d * g[idx]).sum(axis=1)
        bad = descent >= 0
        d[bad] = -pg[idx][bad]
        filled[idx[bad]] = 0
        fresh = filled[idx] == 0
        norms = np.linalg.norm(d, axis=1)
        step = np.where(fresh, first_step / np.maximum(norms, 1e-300), 1.0)
        x_new, f_new, g_new, moved = _line_search(
            fun, idx, x[idx], f[idx], g[idx], d, step, lo[idx], hi[idx]
        )
        s = x_new - x[idx]
        y = g_new - g[idx]
        curvature = (s * y).sum(axis=1) > 1e-12
        keep = idx[curvature & moved]
        if keep.size:
            s_mem[keep] = np.roll(s_mem[keep], 1, axis=1)
            y_mem[keep] = np.roll(y_mem[keep], 1, axis=1)
            s_mem[keep, 0] = s[curvature & moved]
            y_mem[keep, 0] = y[curvature & moved]
            filled[keep] = np.minimum(filled[keep] + 1, memory)
        small = np.abs(f[idx] - f_new) <= ftol
        x[idx], f[idx], g[idx] = x_new, f_new, g_new
        active[idx[~moved | small]] = False
    return x, f


def _two_loop(
    grad: FloatArray, s_mem: FloatArray, y_mem: FloatArray, filled: IntArray, free: BoolArray
) -> FloatArray:
    """H @ grad for each row from its newest ``filled`` pairs, on the free variables only."""
    rows, memory, _ = s_mem.shape
    s_free = s_mem * free[:, None, :]
    y_free = y_mem * free[:, None, :]
    sy = (s_free * y_free).sum(axis=2)
    usable = (np.arange(memory)[None, :] < filled[:, None]) & (sy > 1e-12)
    rho = np.where(usable, 1.0 / np.where(usable, sy, 1.0), 0.0)
    q = grad.copy()
    alpha = np.zeros((rows, memory))
    for j in range(memory):
        alpha[:, j] = rho[:, j] * (s_free[:, j] * q).sum(axis=1)
        q -= alpha[:, j, None] * y_free[:, j]
    yy = (y_free[:, 0] * y_free[:, 0]).sum(axis=1)
    gamma = np.where(usable[:, 0] & (yy > 0), sy[:, 0] / np.where(yy > 0, yy, 1.0), 1.0)
    r = gamma[:, None] * q
    for j in reversed(range(memory)):
        beta = rho[:, j] * (y_free[:, j] * r).sum(axis=1)
        r += s_free[:, j] * (alpha[:, j] - beta)[:, None]
    return r * free


def _line_search(
    fun: BatchFunction,
    rows: IntArray,
    x: FloatArray,
    f: FloatArray,
    g: FloatArray,
    d: FloatArray,
    step: FloatArray,
    lo: FloatArray,
    hi: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, BoolArray]:
    """Projected backtracking from ``step``; rows that find no decrease stay put."""
    x_out, f_out, g_out = x.copy(), f.copy(), g.copy()
    moved = np.zeros(x.shape[0], dtype=np.bool_)
    pending = np.arange(x.shape[0])
    step = step.copy()
    for _ in range(_MAX_BACKTRACKS):
        trial = np.clip(x[pending] + step[pending, None] * d[pending], lo[pending], hi[pending])
        f_trial, g_trial = fun(trial, rows[pending])
        decrease = (g[pending] * (trial - x[pending])).sum(axis=1)
        ok = np.isfinite(f_trial) & (f_trial <= f[pending] + _ARMIJO * decrease) & (decrease < 0)
        done = pending[ok]
        x_out[done], f_out[done], g_out[done] = trial[ok], f_trial[ok], g_trial[ok]
        moved[done] = True
        pending = pending[~ok]
        if pending.size == 0:
            break
        step[pending] *= _SHRINK
    return x_out, f_out, g_out, moved
