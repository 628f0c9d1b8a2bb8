"""Restarts of a converged Bayesian search (runner.tuning.strategies.restarts): where a run
ends, when a new one is not worth it, and what the search does in a new run."""

from __future__ import annotations

import math

import numpy as np

from runner.tuning.search_space import NumericParameter, SearchSpace
from runner.tuning.strategies.bayesian import BayesianSearch
from runner.tuning.strategies.random_search import fresh_sample, seen_keys, trial_rng
from runner.tuning.strategies.restarts import PATIENCE, RESTART_BUDGET, TOLERANCE, run_start
from runner.tuning.trials import Config, Direction, Trial, TrialStatus


def converging(improving: int, flat: int, start: float = 10.0) -> list[float]:
    """Losses that improve for ``improving`` trials, then stay put for ``flat``."""
    losses = [start - i for i in range(improving)]
    return losses + [losses[-1]] * flat


def positions(losses: list[float], offset: int = 0) -> list[tuple[int, float]]:
    return [(offset + i, loss) for i, loss in enumerate(losses)]


def test_a_run_that_keeps_improving_is_not_restarted() -> None:
    assert run_start(positions([10.0 - 0.1 * i for i in range(300)]), max_jobs=None) == 0
    assert run_start(positions(converging(5, PATIENCE - 1)), max_jobs=None) == 0


def test_a_run_ends_after_patience_trials_without_improvement() -> None:
    losses = converging(5, PATIENCE)  # the best at position 4, no better for PATIENCE trials
    assert run_start(positions(losses), max_jobs=None) == 4 + PATIENCE + 1
    # the next run starts afresh: its first trials improve on nothing of the last run's
    losses += converging(3, PATIENCE, start=50.0)
    assert run_start(positions(losses), max_jobs=None) == len(losses)


def test_improvements_smaller_than_the_tolerance_are_none() -> None:
    best = 2.0
    # creeping down, but never by the tolerance in all (a share that adds up would count)
    tiny = [best - TOLERANCE * best * k / (2 * PATIENCE) for k in range(1, PATIENCE + 1)]
    assert run_start(positions([3.0, best, *tiny]), max_jobs=None) == PATIENCE + 2
    large = [best - k * TOLERANCE * best * 2 for k in range(1, PATIENCE + 1)]
    assert run_start(positions([3.0, best, *large]), max_jobs=None) == 0


def test_failed_trials_never_improve_a_run() -> None:
    losses = [5.0, 4.0] + [math.inf] * PATIENCE
    assert run_start(positions(losses), max_jobs=None) == 1 + PATIENCE + 1


def test_a_run_none_of_whose_trials_ran_never_ends() -> None:
    assert run_start(positions([math.inf] * (3 * PATIENCE)), max_jobs=None) == 0
    # once one has run, it ends as any run does
    losses = [math.inf] * 5 + [1.0] + [math.inf] * PATIENCE
    assert run_start(positions(losses), max_jobs=None) == 5 + PATIENCE + 1


def test_no_restart_without_the_budget_for_a_new_run() -> None:
    losses = converging(5, PATIENCE)
    ended = 4 + PATIENCE  # where the run ends
    assert run_start(positions(losses), max_jobs=ended + 1 + RESTART_BUDGET) == ended + 1
    # one trial short: the search stays with every trial, even after an earlier restart
    assert run_start(positions(losses), max_jobs=ended + RESTART_BUDGET) == 0
    twice = losses + converging(5, PATIENCE, start=50.0)
    assert run_start(positions(twice), max_jobs=len(twice) + RESTART_BUDGET - 1) == 0


def test_indices_may_skip_trials_outside_the_space() -> None:
    gapped = [(2 * i, loss) for i, loss in enumerate(converging(3, PATIENCE))]
    # the best at index 4; PATIENCE indices later (not finished trials) the run ends
    assert run_start(gapped, max_jobs=None) == 4 + PATIENCE + (PATIENCE % 2) + 1


def test_trials_running_when_a_run_ended_belong_to_neither_run() -> None:
    """With parallel slots, the trials running while a run's last trial finished were
    suggested by that run: they do not start the next one off at its minimum."""
    losses = converging(5, PATIENCE)  # ends at index 4 + PATIENCE
    stragglers = [-100.0] * 3  # near the old minimum, better than anything the new run finds
    fresh = [50.0 - i for i in range(PATIENCE + 5)]  # the new run, improving all along
    history = positions(losses + stragglers + fresh)
    assert run_start(history, max_jobs=None, lag=3) == 4 + PATIENCE + 1 + 3
    # counted in the new run, the stragglers would end it PATIENCE trials later
    assert run_start(history, max_jobs=None) > 4 + PATIENCE + 1 + 3


# --- the search across a restart ---------------------------------------------------------

SPACE = SearchSpace((NumericParameter("x", 0.0, 1.0), NumericParameter("y", 0.0, 1.0)))


def bowl(config: Config) -> float:
    return (float(config["x"]) - 0.8) ** 2 + (float(config["y"]) - 0.8) ** 2


def stalled_history(parents: int = 0) -> list[Trial]:
    """Trials near (0.2, 0.2), the best first, then PATIENCE no better: a converged run
    (after ``parents`` warm-start parents, numbered below zero)."""
    rng = np.random.default_rng(0)
    parent: list[Config] = [{"x": float(rng.random()), "y": float(rng.random())}
                            for _ in range(parents)]
    history = [Trial(-1 - i, p, TrialStatus.COMPLETED, 9.0) for i, p in enumerate(parent)]
    history.append(Trial(0, {"x": 0.2, "y": 0.2}, TrialStatus.COMPLETED, 0.1))
    for i in range(1, PATIENCE + 1):
        point: Config = {"x": 0.2 + 0.01 * math.cos(i), "y": 0.2 + 0.01 * math.sin(i)}
        history.append(Trial(i, point, TrialStatus.COMPLETED, 0.1 + 0.001 * i))
    return history


def test_a_new_run_begins_with_a_random_design() -> None:
    history = stalled_history()
    search = BayesianSearch(SPACE, Direction.MINIMIZE, seed=3, max_jobs=None, initial_points=4)
    batch = search.suggest(history, 4)
    seen = seen_keys(SPACE, history)
    expected = []
    for j in range(4):
        expected.append(fresh_sample(SPACE, trial_rng(3, len(history) + j), seen))
        seen.add(SPACE.key(expected[-1]))
    assert batch == expected


def test_a_new_run_design_keeps_out_of_where_trials_failed() -> None:
    """A converged run whose trials failed wherever x > 0.5: the new run's random design
    draws again where a trial would likely fail (half of uniform draws would)."""
    history = [Trial(0, {"x": 0.2, "y": 0.2}, TrialStatus.COMPLETED, 0.1)]
    rng = np.random.default_rng(1)
    for i in range(1, PATIENCE + 1):
        point: Config = {"x": float(rng.uniform(0.5, 1.0)), "y": float(rng.random())}
        if i % 2:
            history.append(Trial(i, point, TrialStatus.FAILED))
        else:
            near: Config = {"x": 0.2 + 0.01 * math.cos(i), "y": 0.2 + 0.01 * math.sin(i)}
            history.append(Trial(i, near, TrialStatus.COMPLETED, 0.1 + 0.001 * i))
    search = BayesianSearch(SPACE, Direction.MINIMIZE, seed=0, max_jobs=None, initial_points=8)
    assert search._run(history) == []
    batch = search.suggest(history, 8)
    assert all(float(c["x"]) < 0.5 for c in batch), batch


def test_a_new_run_models_its_own_trials_only() -> None:
    """After the new run's design, near (0.8, 0.8), the search refines there: the earlier
    run's better trials around (0.2, 0.2) no longer draw it back."""
    history = stalled_history()
    design: list[Config] = [{"x": 0.7, "y": 0.9}, {"x": 0.9, "y": 0.7}, {"x": 0.75, "y": 0.75},
                            {"x": 0.6, "y": 0.95}]
    history += [Trial(len(history) + i, p, TrialStatus.COMPLETED, 0.5 + bowl(p))
                for i, p in enumerate(design)]
    search = BayesianSearch(SPACE, Direction.MINIMIZE, seed=3, max_jobs=None, initial_points=4)
    (config,) = search.suggest(history, 1)
    assert math.dist((float(config["x"]), float(config["y"])), (0.8, 0.8)) < 0.3
    # with no budget for another run the same history keeps every trial in the model
    late = BayesianSearch(SPACE, Direction.MINIMIZE, seed=3, max_jobs=len(history) + 1,
                          initial_points=4)
    (config,) = late.suggest(history, 1)
    assert math.dist((float(config["x"]), float(config["y"])), (0.2, 0.2)) < 0.3


def test_the_trials_running_at_a_restart_stay_out_of_the_new_run() -> None:
    history = stalled_history()
    running = [Trial(len(history) + i, {"x": 0.2, "y": 0.21 + 0.01 * i}, TrialStatus.IN_PROGRESS)
               for i in range(2)]
    search = BayesianSearch(SPACE, Direction.MINIMIZE, seed=3, max_jobs=None, initial_points=4,
                            slots=3)
    assert search._run(history + running) == []
    # they finish, better than the old run's best, while the new run's first two run: the
    # new run is those two alone
    done = [Trial(t.number, t.config, TrialStatus.COMPLETED, 0.05) for t in running]
    new = [Trial(len(history) + 2 + i, {"x": 0.8, "y": 0.1 * i}, TrialStatus.IN_PROGRESS)
           for i in range(2)]
    assert search._run(history + done + new) == new


def test_a_new_run_stays_put_while_the_tuner_fills_its_slots() -> None:
    """The tuner suggests one trial at a time, each running before the next suggestion:
    the new run starts at the same trial whether none, one, two or three are running."""
    history = stalled_history()
    search = BayesianSearch(SPACE, Direction.MINIMIZE, seed=3, max_jobs=None, initial_points=4,
                            slots=3)
    running: list[Trial] = []
    for i in range(4):
        run = search._run(history + running)
        assert [t.number for t in run] == [t.number for t in running[2:]], i
        (config,) = search.suggest(history + running, 1)
        running.append(Trial(len(history) + i, config, TrialStatus.IN_PROGRESS))


def test_each_definition_has_its_share_of_the_budget_and_slots() -> None:
    """Training job definitions take turns: of 200 trials and 4 slots, each of two has 100
    trials and 2 slots, so a run ending at its 60th trial has too few left for another."""
    shared = BayesianSearch(SPACE, Direction.MINIMIZE, seed=0, max_jobs=200, slots=4,
                            definitions=2)
    assert (shared.budget, shared.lag) == (100, 1)
    alone = BayesianSearch(SPACE, Direction.MINIMIZE, seed=0, max_jobs=200, slots=4)
    assert (alone.budget, alone.lag) == (200, 3)
    losses = positions(converging(30, PATIENCE))  # ends at its 60th trial
    assert run_start(losses, max_jobs=shared.budget, lag=shared.lag) == 0
    assert run_start(losses, max_jobs=alone.budget, lag=alone.lag) == 60 + 3


def test_warm_start_parents_never_end_a_run() -> None:
    """Parents (numbered below zero) are the first run's data, not its trials: a child with
    more than PATIENCE parents, all worse than its own first trial, has not converged."""
    history = stalled_history(parents=PATIENCE + 5)[: PATIENCE + 5 + 3]
    search = BayesianSearch(SPACE, Direction.MINIMIZE, seed=3, max_jobs=None, initial_points=4)
    assert search._run(history) == history
    # the child's own run ends as any does, and the parents stay out of the new one
    history = stalled_history(parents=PATIENCE + 5)
    assert search._run(history) == []
