"""Early stopping and Hyperband on synthetic learning curves, side by side in one run.

    .venv/bin/python benchmarks/early_stopping_sim.py [--seeds 50] [--parallel 1]

For each seed, the same curves run without stopping, under the median stopping rule
(``TrainingJobEarlyStoppingType=Auto``: 40 trials x 30 epochs) and under ASHA (Hyperband,
MinResource 1, MaxResource 27: 27 trials x 27 epochs), through ``runner.tuning.simulation``. Two
curve families: the default one (slow learners with a good final value cross fast ones) and a
rank-preserving one (no crossing; noise only). Prints, per scheduler, the epochs used, the
share saved, the best final objective with and without, how often the best trial of the
unstopped run survived, and the mean regret (best with minus best without; 0 is no loss).
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from runner.tuning.schedulers.early_stopping import MedianStoppingRule, NoEarlyStopping
from runner.tuning.schedulers.hyperband import HyperbandScheduler
from runner.tuning.simulation import simulate, synthetic_curves
from runner.tuning.trials import Direction, Scheduler

DIRECTION = Direction.MINIMIZE


@dataclass(frozen=True)
class Setup:
    name: str
    trials: int
    epochs: int
    make: Callable[[], Scheduler]


SETUPS = [
    Setup("median stopping (Auto)", 40, 30, lambda: MedianStoppingRule(DIRECTION)),
    Setup("ASHA (Hyperband 1..27)", 27, 27, lambda: HyperbandScheduler(DIRECTION, 1, 27)),
]
FAMILIES = {"crossing": {}, "rank-preserving": {"spread": 0.0, "crossing": 0.0}}


def run(setup: Setup, family: dict[str, float], seeds: int, parallel: int) -> list[str]:
    used, full, best_with, best_without, regret, kept = [], [], [], [], [], 0
    for seed in range(seeds):
        curves = synthetic_curves(setup.trials, setup.epochs, seed=seed, **family)
        base = simulate(NoEarlyStopping(), curves, DIRECTION, parallel)
        sched = simulate(setup.make(), curves, DIRECTION, parallel)
        assert base.best_objective is not None and sched.best_objective is not None
        used.append(sched.epochs_used)
        full.append(base.epochs_used)
        best_with.append(sched.best_objective)
        best_without.append(base.best_objective)
        regret.append(sched.best_objective - base.best_objective)
        kept += sched.best_trial == base.best_trial
    saved = 1 - sum(used) / sum(full)
    return [
        f"{statistics.mean(full):.0f}",
        f"{statistics.mean(used):.0f}",
        f"{saved:.0%}",
        f"{statistics.mean(best_without):.4f}",
        f"{statistics.mean(best_with):.4f}",
        f"{kept}/{seeds}",
        f"{statistics.mean(regret):.4f}",
        f"{max(regret):.4f}",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--parallel", type=int, default=1)
    args = parser.parse_args(argv)
    header = [
        "scheduler",
        "curves",
        "epochs w/o",
        "epochs with",
        "saved",
        "best w/o",
        "best with",
        "best kept",
        "mean regret",
        "max regret",
    ]
    rows = [header]
    for setup in SETUPS:
        for family_name, family in FAMILIES.items():
            rows.append([setup.name, family_name, *run(setup, family, args.seeds, args.parallel)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print(f"{args.seeds} seeds, parallel {args.parallel}, minimising; means over seeds")
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
