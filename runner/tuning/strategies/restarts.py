"""Restarts of a converged Bayesian search (TuRBO-style: Eriksson et al., "Scalable Global
Optimization via Local Bayesian Optimization", NeurIPS 2019).

A search that has converged spends the rest of its budget refining its incumbent by ever
smaller steps; if that incumbent is a local minimum (Hartmann6's at -3.2032 holds about a third
of the seeds of a 200-trial search), it stays there. So the history is split into *runs*: a
run ends when its best loss has not improved by more than ``TOLERANCE`` (relative) for
``PATIENCE`` trials, and the next run starts afresh: a new random design, then a model of that
run's trials alone (an earlier run's trials would draw it straight back to their minimum). Each
run finds the global basin with the first run's chance, so the chance of staying trapped falls
geometrically with the number of runs, and the best trial of any run is the job's best.

A restart is only made while at least ``RESTART_BUDGET`` trials of ``MaxNumberOfTrainingJobs``
remain (a design and the ~40 trials in which a run converges on Hartmann6): a run cut short
would spend its trials for nothing, and a job of fewer than ``PATIENCE + 1 + RESTART_BUDGET``
(81) trials never restarts. When a run converges too late for another, the search goes back
to a model of every trial for the rest of the budget: it refines the best incumbent of all
the runs. The runs are a function of the history alone (trial order, losses), so a resumed
job replays them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

TOLERANCE = 1e-5  # an improvement of the run's best loss by less than this share is none
PATIENCE = 30  # trials without an improvement that end a run
RESTART_BUDGET = 50  # trials of the budget that must remain for a new run


def run_start(
    losses: Iterable[tuple[int, float]],
    *,
    max_jobs: int | None,
    lag: int = 0,
    patience: int = PATIENCE,
    budget: int = RESTART_BUDGET,
) -> int:
    """The index of the trial with which the current run began (0: the first run).

    ``losses``: (index, loss) of the job's own finished trials in the order they were
    suggested (index 0 is the job's first trial), ``inf`` for a trial its configuration failed
    (it never improves a run; a run none of whose trials ran never ends). ``lag``: trials
    suggested after a run's last one and before its end was known (with ``MaxParallelTrainingJobs``
    slots, the other slots' trials were running while it finished); they belong to neither
    run. ``max_jobs``: the trials this search will suggest in all (None: unbounded)."""
    start, best, last = 0, math.inf, -1
    for index, loss in losses:
        if index < start:  # suggested before this run began
            continue
        if last < start:  # the run's first finished trial
            last = index
        if loss < best - TOLERANCE * abs(best) or (math.isinf(best) and loss < best):
            best, last = loss, index
        elif index - last >= patience and not math.isinf(best):
            following = index + 1 + lag
            if max_jobs is not None and max_jobs - following < budget:
                return 0  # too late for another run: refine the best of all of them
            start, best, last = following, math.inf, -1
    return start
