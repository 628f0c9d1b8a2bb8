"""Grid search: every combination of a categorical-only space exactly once, in order.

The order is ``SearchSpace.grid()``'s (ranges in request order, the last varying fastest);
combinations already in the history (running, finished or failed) are skipped, and an
exhausted grid suggests nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from runner.tuning.search_space import SearchSpace
from runner.tuning.strategies.random_search import seen_keys
from runner.tuning.trials import Config, Trial


class GridSearch:
    def __init__(self, space: SearchSpace) -> None:
        if not space.is_categorical_only:
            raise ValueError("Grid search needs categorical parameter ranges only")
        self.space = space
        self.combinations = space.grid()

    def suggest(self, history: Sequence[Trial], count: int) -> list[Config]:
        seen = seen_keys(self.space, history)
        batch: list[Config] = []
        for config in self.combinations:
            if len(batch) >= count:
                break
            if self.space.key(config) not in seen:
                batch.append(dict(config))
        return batch
