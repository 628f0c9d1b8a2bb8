"""The chance that a configuration runs at all: a Gaussian process on the trials' outcomes.

Bayesian search multiplies expected improvement by this probability (constrained Bayesian
optimisation: Gardner et al., "Bayesian Optimization with Inequality Constraints", ICML 2014;
Gelbart et al., UAI 2014), so a region where trials fail (a learning rate that diverges, a
batch that does not fit in memory) stops drawing trials without its failures entering the
model of the loss, where they would distort its values next to the region's border (and the
best configurations are often just inside it).

The classifier is a GP regression on labels, +1 for a trial that ran (a finite objective) and
-1 for one its configuration failed (least-squares classification), with the loss model's
kernel family and fit; the probability is ``Phi(mean / sd)`` of its latent posterior: about 1
among trials that ran, about 0 among failures, 1/2 far from every trial or on a border.
"""

from __future__ import annotations

import numpy as np
import scipy.special

from runner.tuning.strategies.gp import FloatArray, Posterior, fit_kernel, fit_subset

# The probability enters the acquisition to this power: a failed trial costs what one that
# runs does and teaches the loss model nothing. Hartmann3 with every trial past x1 = 0.15
# failing (its minimum at 0.1146), median regret at 50 trials over 10 seeds for powers
# 1, 2, 4, 8, 16: 1.5e-4, 1.0e-4, 7.2e-6, 7.0e-6, 1.2e-4; over 20 seeds 8.6e-6 for 4 and
# 4.0e-5 for 8 (4.0e-6 without failures).
POWER = 4.0


class Feasibility:
    """The classifier of the trials that ran (``ran``, encoded rows) and those their
    configuration failed (``failed``). Past ``fit_limit`` trials it is fitted on a subset and
    conditions on that subset alone (``fit_subset``: half failures, when there are that many,
    half spread over the rest): a border is drawn from a hundred trials as well as from 750,
    and the whole history would double a suggestion's cost (0.25 s at 750 trials)."""

    def __init__(self, ran: FloatArray, failed: FloatArray, rng: np.random.Generator,
                 fit_limit: int | None) -> None:
        x = np.vstack([ran, failed])
        y = np.concatenate([np.ones(len(ran)), -np.ones(len(failed))])
        fit = fit_subset(len(y), y, fit_limit)
        self.post = Posterior(x[fit], y[fit], fit_kernel(x[fit], y[fit], rng))

    def log_prob(self, z: FloatArray) -> FloatArray:
        """``POWER`` times the log probability that each row of ``z`` runs."""
        mean, var = self.post.predict(z)
        return POWER * np.asarray(scipy.special.log_ndtr(mean / np.sqrt(var)),
                                  dtype=np.float64)

    def log_prob_grad(self, z: FloatArray) -> tuple[FloatArray, FloatArray]:
        mean, var, dmean, dvar = self.post.predict_grad(z)
        sd = np.sqrt(var)
        u = mean / sd
        value = np.asarray(scipy.special.log_ndtr(u), dtype=np.float64)
        ratio = np.exp(-0.5 * u * u - 0.5 * np.log(2.0 * np.pi) - value)  # phi(u) / Phi(u)
        du = dmean / sd[:, None] - (u / (2.0 * var))[:, None] * dvar
        return POWER * value, POWER * ratio[:, None] * du
