"""Random search: independent draws under each parameter's scaling.

The configuration of trial ``k`` is a draw from a generator seeded with ``(seed, k)``, so the
sequence depends only on ``RandomSeed`` and on how many trials the history holds. A draw that
repeats a configuration already tried (or already in the batch) is drawn again from the same
generator, unless the space is finite and every configuration has been tried.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from runner.tuning.search_space import SearchSpace
from runner.tuning.trials import Config, Trial

MAX_REDRAWS = 64


def trial_rng(seed: int, number: int, stream: int = 0) -> np.random.Generator:
    """The generator for trial ``number`` of a job seeded with ``seed`` (one per ``stream``)."""
    return np.random.default_rng([seed % 2**64, number, stream])


def seen_keys(space: SearchSpace, history: Sequence[Trial]) -> set[tuple[str, ...]]:
    """Identities of every configuration in the history that has the space's parameters."""
    return {space.key(t.config) for t in history if all(n in t.config for n in space.names)}


def exhausted(space: SearchSpace, seen: set[tuple[str, ...]]) -> bool:
    cardinality = space.cardinality
    return cardinality is not None and len(seen) >= cardinality


def fresh_sample(
    space: SearchSpace, rng: np.random.Generator, seen: set[tuple[str, ...]]
) -> Config:
    """A draw not in ``seen`` when one can be found (the last draw otherwise)."""
    config = space.sample(rng)
    if exhausted(space, seen):
        return config
    for _ in range(MAX_REDRAWS):
        if space.key(config) not in seen:
            break
        config = space.sample(rng)
    return config


class RandomSearch:
    def __init__(self, space: SearchSpace, *, seed: int) -> None:
        self.space = space
        self.seed = seed

    def suggest(self, history: Sequence[Trial], count: int) -> list[Config]:
        seen = seen_keys(self.space, history)
        batch: list[Config] = []
        for j in range(max(count, 0)):
            config = fresh_sample(self.space, trial_rng(self.seed, len(history) + j), seen)
            seen.add(self.space.key(config))
            batch.append(config)
        return batch
