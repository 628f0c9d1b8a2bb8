"""Search quality: Random and Bayesian search on Branin, Hartmann6 and Hartmann3 (also with a
region where every trial fails), side by side with Optuna's TPE and GP samplers when optuna
(and, for its GP sampler, torch) is installed.

    .venv/bin/python benchmarks/search_quality.py [--seeds 20] [--trials 50,100]
        [--problems branin,hartmann6] [--samplers random,bayesian,tpe,optuna-gp] [--parallel 1]

Pure-Python objectives, no Docker: each run is sequential (suggest one configuration,
evaluate it, append a Completed trial) through the same ``Strategy`` interface the tuning job
uses, over a SearchSpace built from ContinuousParameterRanges; ``--parallel N`` runs ours with
N asynchronous slots instead (suggest with the others Pending). Prints, per sampler, the
median over seeds (0 .. N-1) of the simple regret (best value found minus the known minimum)
after each number of trials, and the median time spent suggesting per 100 trials: wall
clock, and this process's CPU time beside it (on a shared machine the wall time also counts
other processes' load). A tuning job's ``MaxNumberOfTrainingJobs`` is the largest checkpoint.
For Hartmann6 it also counts the seeds that end in its local minimum (0.119 above the
global one). ``bayesian-blind`` and ``bayesian-one-run`` are ours as it was before failures
informed its model and before converged runs were restarted, for side-by-side figures.
Optuna's GPSampler needs torch (optuna itself does not pull it in); without it, it is skipped.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner.tuning.search_space import SearchSpace, parse_ranges  # noqa: E402
from runner.tuning.strategies import make_strategy  # noqa: E402
from runner.tuning.strategies.bayesian import BayesianSearch  # noqa: E402
from runner.tuning.trials import Config, Direction, Trial, TrialStatus  # noqa: E402

Objective = Callable[[Mapping[str, float]], float]
Timing = tuple[float, float]  # wall seconds, CPU seconds


class Stopwatch:
    """Wall and CPU time accumulated over ``with`` blocks."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __enter__(self) -> Stopwatch:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._wall
        self.cpu += time.process_time() - self._cpu

    @property
    def timing(self) -> Timing:
        return self.wall, self.cpu


@dataclass(frozen=True)
class Problem:
    name: str
    bounds: dict[str, tuple[float, float]]
    objective: Objective
    minimum: float
    # where a trial fails (a learning rate that diverges, a batch that does not fit): the
    # trial is Failed, no objective
    fails: Callable[[Mapping[str, float]], bool] | None = None
    integer: bool = False  # IntegerParameterRanges (bounds whole numbers) instead
    # the regret of a best value, in the units of the function's own (default: best - minimum)
    regret: Callable[[float], float] | None = None
    trap: float | None = None  # a local minimum's regret: seeds that end at or above half of it


    def regret_of(self, best: float) -> float:
        return self.regret(best) if self.regret is not None else best - self.minimum

    def space(self) -> SearchSpace:
        kind = "IntegerParameterRanges" if self.integer else "ContinuousParameterRanges"
        ranges = {
            kind: [
                {"Name": n, "MinValue": str(int(lo)) if self.integer else repr(lo),
                 "MaxValue": str(int(hi)) if self.integer else repr(hi), "ScalingType": "Linear"}
                for n, (lo, hi) in self.bounds.items()
            ]
        }
        space, problems = parse_ranges(ranges, "ParameterRanges")
        assert space is not None, problems
        return space


def branin(p: Mapping[str, float]) -> float:
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H6_ALPHA = (1.0, 1.2, 3.0, 3.2)
_H6_A = (
    (10, 3, 17, 3.5, 1.7, 8),
    (0.05, 10, 17, 0.1, 8, 14),
    (3, 3.5, 1.7, 10, 17, 8),
    (17, 8, 0.05, 10, 0.1, 14),
)
_H6_P = (
    (0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886),
    (0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991),
    (0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650),
    (0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381),
)


def _hartmann(p: Mapping[str, float], a_rows: tuple[tuple[float, ...], ...],
              p_rows: tuple[tuple[float, ...], ...]) -> float:
    x = [p[f"x{i + 1}"] for i in range(len(a_rows[0]))]
    total = 0.0
    for alpha, a, q in zip(_H6_ALPHA, a_rows, p_rows, strict=True):  # the same alphas for both
        total -= alpha * math.exp(-sum(aj * (xj - qj) ** 2
                                       for aj, xj, qj in zip(a, x, q, strict=True)))
    return total


def hartmann6(p: Mapping[str, float]) -> float:
    return _hartmann(p, _H6_A, _H6_P)


_H3_A = ((3.0, 10, 30), (0.1, 10, 35), (3.0, 10, 30), (0.1, 10, 35))
_H3_P = ((0.3689, 0.1170, 0.2673), (0.4699, 0.4387, 0.7470), (0.1091, 0.8732, 0.5547),
         (0.0381, 0.5743, 0.8828))


def hartmann3(p: Mapping[str, float]) -> float:
    return _hartmann(p, _H3_A, _H3_P)


def hartmann3_thousandths(p: Mapping[str, float]) -> float:
    """Hartmann3 at whole thousandths: ``x1`` 0..1000 is 0.000..1.000."""
    return hartmann3({k: v / 1000 for k, v in p.items()})


PROBLEMS = {
    "branin": Problem("Branin", {"x1": (-5.0, 10.0), "x2": (0.0, 15.0)}, branin, 0.397887357729738),
    "hartmann6": Problem(
        "Hartmann6", {f"x{i + 1}": (0.0, 1.0) for i in range(6)}, hartmann6, -3.322368011415515,
        trap=0.119),  # (its local minimum at -3.2032)
    "hartmann3": Problem(
        "Hartmann3", {f"x{i + 1}": (0.0, 1.0) for i in range(3)}, hartmann3, -3.86278214782076
    ),
    # the minimum (x1 = 0.1146) is inside; every trial with x1 > 0.6 fails
    "hartmann3-failing": Problem(
        "Hartmann3, failing where x1 > 0.6", {f"x{i + 1}": (0.0, 1.0) for i in range(3)},
        hartmann3, -3.86278214782076, fails=lambda p: p["x1"] > 0.6),
    # the good region bordered by failures: x1 > 0.15 fails, just past the minimum's 0.1146
    "hartmann3-bordered": Problem(
        "Hartmann3, failing where x1 > 0.15", {f"x{i + 1}": (0.0, 1.0) for i in range(3)},
        hartmann3, -3.86278214782076, fails=lambda p: p["x1"] > 0.15),
}
# heavy tails: exp(k (H3 - H3min)), 1 at the minimum; its regret is told in Hartmann3's units
# (log(best) / k) to compare with Hartmann3's. k = 5: the worst trials near 2e8; k = 100:
# past 1e154, where standardising the losses overflows
for _k, _name in ((5.0, "hartmann3-heavy"), (100.0, "hartmann3-huge")):
    PROBLEMS[_name] = Problem(
        f"exp({_k:g} (Hartmann3 - min))", {f"x{i + 1}": (0.0, 1.0) for i in range(3)},
        lambda p, k=_k: math.exp(k * (hartmann3(p) + 3.86278214782076)), 1.0,
        regret=lambda best, k=_k: math.log(best) / k)
# Hartmann3 over three IntegerParameterRanges 0..1000 (as wide as mini_batch_size 16..2048):
# the best grid point (115, 556, 853) is 2.6e-5 above the continuous minimum
PROBLEMS["hartmann3-int"] = Problem(
    "Hartmann3, integers 0..1000", {f"x{i + 1}": (0.0, 1000.0) for i in range(3)},
    hartmann3_thousandths, -3.86278214782076, integer=True)
FAILED_FROM = 10  # the failed share is counted over the trials after the initial design


def run_ours(
    name: str, problem: Problem, seed: int, trials: int, parallel: int = 1, blind: bool = False,
    one_run: bool = False,
) -> tuple[list[float], Timing]:
    """Best value after each finished trial, and time spent suggesting. With ``parallel``
    slots, trials run asynchronously: a new one is suggested (with the others still
    Pending) whenever the oldest running one finishes. ``blind``: failed trials are shown to
    the strategy as Stopped without an objective, so it leaves them out of its model (what
    it did before failures informed it), for a side-by-side figure. ``one_run``: Bayesian
    search without restarts (what it did before a converged run was restarted)."""
    space = problem.space()
    strategy = make_strategy(name, space, Direction.MINIMIZE, seed=seed, max_jobs=trials,
                             config={}, parallel=parallel)
    if one_run:
        strategy = BayesianSearch(space, Direction.MINIMIZE, seed=seed, max_jobs=trials,
                                  restarts=False, slots=parallel)
    history: list[Trial] = []
    running: list[Trial] = []
    best, watch = math.inf, Stopwatch()
    curve: list[float] = []
    failures.clear()
    while len(curve) < trials:
        while len(running) < parallel and len(history) + len(running) < trials:
            with watch:
                (config,) = strategy.suggest(history + running, 1)
            running.append(Trial(len(history) + len(running), config, TrialStatus.PENDING))
        done = running.pop(0)
        point = {k: float(v) for k, v in done.config.items()}
        if problem.fails is not None and problem.fails(point):
            history.append(Trial(done.number, done.config,
                                 TrialStatus.STOPPED if blind else TrialStatus.FAILED))
            failures.append(done.number)
        else:
            value = problem.objective(point)
            history.append(Trial(done.number, done.config, TrialStatus.COMPLETED, value))
            best = min(best, value)
        running = [Trial(t.number, t.config, TrialStatus.IN_PROGRESS) for t in running]
        curve.append(best)
    return curve, watch.timing


def run_optuna(name: str, problem: Problem, seed: int, trials: int) -> tuple[list[float], Timing]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (optuna.samplers.TPESampler(seed=seed) if name == "tpe"
               else optuna.samplers.GPSampler(seed=seed))
    study = optuna.create_study(sampler=sampler, direction="minimize")
    failures.clear()
    best, watch = math.inf, Stopwatch()
    curve: list[float] = []
    for _ in range(trials):
        with watch:
            trial = study.ask()
            config: Config = {n: (trial.suggest_int(n, int(lo), int(hi)) if problem.integer
                                  else trial.suggest_float(n, lo, hi))
                              for n, (lo, hi) in problem.bounds.items()}
        point = {k: float(v) for k, v in config.items()}
        if problem.fails is not None and problem.fails(point):
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            failures.append(trial.number)
        else:
            value = problem.objective(point)
            study.tell(trial, value)
            best = min(best, value)
        curve.append(best)
    return curve, watch.timing


def available(sampler: str) -> str | None:
    """Why ``sampler`` cannot run here, or None."""
    if sampler in ("random", "bayesian", "bayesian-blind", "bayesian-one-run"):
        return None
    try:
        import optuna  # noqa: F401
    except ImportError:
        return "optuna is not installed"
    if sampler == "optuna-gp":
        try:
            import torch  # noqa: F401
        except ImportError:
            return "Optuna's GPSampler needs torch, which is not installed"
    return None


#: The numbers of the trials the last run saw fail (a run's side channel, read after it).
failures: list[int] = []
Runner = Callable[[Problem, int, int, int], tuple[list[float], Timing]]
RUNNERS: dict[str, Runner] = {
    "random": lambda p, s, t, n: run_ours("Random", p, s, t, n),
    "bayesian": lambda p, s, t, n: run_ours("Bayesian", p, s, t, n),
    "bayesian-blind": lambda p, s, t, n: run_ours("Bayesian", p, s, t, n, blind=True),
    "bayesian-one-run": lambda p, s, t, n: run_ours("Bayesian", p, s, t, n, one_run=True),
    "tpe": lambda p, s, t, n: run_optuna("tpe", p, s, t),
    "optuna-gp": lambda p, s, t, n: run_optuna("gp", p, s, t),
}


def suggestion_cost(sizes: list[int], repeats: int) -> None:
    """Seconds one Bayesian suggestion takes after ``n`` finished trials of Hartmann6, with
    the kernel fitted on a subset (``FIT_LIMIT``, the default) and on every trial (exact),
    side by side: median of ``repeats`` seeds. Histories are half uniform draws and half
    clustered around the minimum (as a search's are late): smooth, with noise (sd 0.1), or
    smooth with every trial failed where x1 > 0.6 (the chance to run is modelled too)."""
    import numpy as np

    from runner.tuning.strategies.bayesian import FIT_LIMIT

    problem = PROBLEMS["hartmann6"]
    space = problem.space()
    minimum_at = np.array([0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573])
    print(f"seconds per suggestion (median of {repeats}), Hartmann6; fit on at most "
          f"{FIT_LIMIT} trials against every trial")
    print("| trials | smooth, subset | smooth, exact | noisy, subset | noisy, exact "
          "| failing where x1 > 0.6, subset |")
    print("|---|---|---|---|---|---|")
    cases = [(0.0, False, FIT_LIMIT), (0.0, False, None), (0.1, False, FIT_LIMIT),
             (0.1, False, None), (0.0, True, FIT_LIMIT)]
    for n in sizes:
        cells = []
        for noise, failing, limit in cases:
            times = []
            for seed in range(repeats):
                rng = np.random.default_rng(seed)
                points = np.vstack([rng.random((n - n // 2, 6)), np.clip(
                    minimum_at + rng.normal(0, 0.05, (n // 2, 6)), 0, 1)])
                history = []
                for i, row in enumerate(points):
                    config: Config = {f"x{j + 1}": float(v) for j, v in enumerate(row)}
                    if failing and row[0] > 0.6:
                        history.append(Trial(i, config, TrialStatus.FAILED))
                        continue
                    value = hartmann6(config) + noise * rng.normal()
                    history.append(Trial(i, config, TrialStatus.COMPLETED, value))
                # one run: the cost of the model of every trial (such a history has
                # long converged; restarted, the search would model only a new run's)
                strategy = BayesianSearch(space, Direction.MINIMIZE, seed=seed,
                                          fit_limit=limit, restarts=False)
                started = time.perf_counter()
                strategy.suggest(history, 1)
                times.append(time.perf_counter() - started)
            cells.append(f"{statistics.median(times):.3f}")
        print(f"| {n} | " + " | ".join(cells) + " |", flush=True)


def fmt(value: float) -> str:
    return f"{value:.2g}" if value >= 1e-3 or value == 0 else f"{value:.1e}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--trials", default="50,100", help="checkpoints, comma-separated")
    parser.add_argument("--problems", default="branin,hartmann6")
    parser.add_argument("--samplers", default="random,bayesian,tpe,optuna-gp")
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="asynchronous slots for our strategies (Optuna's samplers always run sequentially)",
    )
    parser.add_argument("--cost", metavar="N,N,...",
                        help="instead: the time of one suggestion after N trials (e.g. "
                             "100,200,400,750), subset fit and exact side by side")
    parser.add_argument("--cost-repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.cost:
        suggestion_cost([int(n) for n in args.cost.split(",")], args.cost_repeats)
        return 0
    checkpoints = sorted(int(t) for t in args.trials.split(","))
    problems = [PROBLEMS[p] for p in args.problems.split(",")]
    samplers = args.samplers.split(",")
    header = ["sampler"] + [f"{p.name} @{c}" for p in problems for c in checkpoints]
    header += [f"{p.name}: failed share of trials {FAILED_FROM + 1}-{checkpoints[-1]}"
               for p in problems if p.fails is not None]
    header += [f"{p.name}: seeds in its local minimum @{checkpoints[-1]}"
               for p in problems if p.trap is not None]
    header += [f"{p.name} s/100 trials (wall, cpu)" for p in problems]
    rows: list[list[str]] = []
    for sampler in samplers:
        why = available(sampler)
        if why is not None:
            print(f"skipping {sampler}: {why}", file=sys.stderr)
            continue
        regrets: list[str] = []
        shares: list[str] = []
        trapped: list[str] = []
        times: list[str] = []
        for problem in problems:
            curves: list[list[float]] = []
            walls: list[float] = []
            cpus: list[float] = []
            failed = 0
            for seed in range(args.seeds):
                curve, (wall, cpu) = RUNNERS[sampler](problem, seed, checkpoints[-1], args.parallel)
                curves.append(curve)
                walls.append(wall * 100 / checkpoints[-1])
                cpus.append(cpu * 100 / checkpoints[-1])
                failed += sum(n >= FAILED_FROM for n in failures)
            for c in checkpoints:
                regrets.append(
                    fmt(statistics.median(problem.regret_of(curve[c - 1]) for curve in curves)))
            if problem.trap is not None:
                stuck = sum(problem.regret_of(c[-1]) >= problem.trap / 2 for c in curves)
                trapped.append(f"{stuck} of {args.seeds}")
            if problem.fails is not None:
                shares.append(f"{failed / (args.seeds * (checkpoints[-1] - FAILED_FROM)):.0%}")
            times.append(f"{statistics.median(walls):.2f}, {statistics.median(cpus):.2f}")
            print(f"  {sampler} {problem.name}: done", file=sys.stderr, flush=True)
        rows.append([sampler] + regrets + shares + trapped + times)
    print(
        f"median simple regret over {args.seeds} seeds; suggestion time per 100 trials (median);"
        f" {args.parallel} slot(s) for ours"
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
