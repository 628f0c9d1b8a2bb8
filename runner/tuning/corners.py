"""The corners of a search space, and what a short trial at each one showed (pure).

``smlocal tune SPEC --rehearse`` runs one short trial per corner before a tuning job spends
anything: every range's minimum and maximum and every categorical value, each at least once,
combined row by row into a covering set (``max(len(values))`` trials, not the full product):
row ``k`` gives each parameter its ``k``-th value (cycling), so the first row is every
minimum, the second every maximum, and a categorical range with more values adds rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.tuning.search_parameters import CategoricalParameter, NumericParameter
from runner.tuning.search_space import SearchSpace
from runner.tuning.trials import Config, Value

OK, CRASHED, OOM, NONFINITE, NO_OBJECTIVE, TOO_SLOW = (
    "ok", "crashed", "out of memory", "NaN/inf objective", "no objective", "too slow")


def corners(space: SearchSpace) -> list[Config]:
    """A covering set of the space's extreme values, without repeats."""
    columns: list[tuple[str, list[Value]]] = []
    for p in space.parameters:
        if isinstance(p, CategoricalParameter):
            columns.append((p.name, list(p.values)))
        elif isinstance(p, NumericParameter):
            low, high = (int(p.minimum), int(p.maximum)) if p.integer else (p.minimum, p.maximum)
            columns.append((p.name, [low, high]))
    rows = max((len(values) for _, values in columns), default=0)
    out: list[Config] = []
    seen: set[tuple[str, ...]] = set()
    for k in range(rows):
        config: Config = {name: values[k % len(values)] for name, values in columns}
        key = space.key(config)
        if key not in seen:
            seen.add(key)
            out.append(config)
    return out


@dataclass(frozen=True)
class CornerResult:
    job: str
    hyperparameters: dict[str, str]
    verdict: str  # one of OK .. TOO_SLOW
    detail: str  # the first objective value and when, or what went wrong

    def to_json(self) -> dict[str, Any]:
        return {"TrainingJobName": self.job, "HyperParameters": self.hyperparameters,
                "Verdict": self.verdict, "Detail": self.detail}


def verdict(record: dict[str, Any], first: tuple[float, float] | None, nonfinite: int,
            budget: float) -> tuple[str, str]:
    """What a rehearsal trial showed: ``first`` is its first finite objective value and the
    seconds of training it took (None: none came); ``nonfinite`` counts NaN/inf ones."""
    reason = str(record.get("FailureReason") or "")
    if nonfinite:
        return NONFINITE, f"{nonfinite} NaN/inf value(s) of the objective"
    if record.get("TrainingJobStatus") == "Failed":
        head = " ".join(reason.split())[:240] or "failed"  # its log's last lines on one line
        return (OOM if "out of memory" in reason else CRASHED), head
    if first is not None:
        value, seconds = first
        return OK, f"objective {value:g} after {seconds:.1f} s"
    if record.get("SecondaryStatus") == "MaxRuntimeExceeded":
        return TOO_SLOW, (f"no objective value within the {budget:g} s budget "
                          "(--rehearse-seconds)")
    return NO_OBJECTIVE, f"{record.get('TrainingJobStatus')} without an objective value"
