"""What a running tuning job shows: a live table on a terminal, a line per event otherwise."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from runner.tuning.trials import Direction

REDRAW_SECONDS = 0.5


@dataclass
class _Row:
    number: int
    job: str
    config: dict[str, Any]
    status: str = "InProgress"
    latest: float | None = None
    epochs: int = 0
    final: float | None = None
    note: str = ""


@dataclass
class TuningView:
    name: str
    direction: Direction
    out: TextIO = field(default_factory=lambda: sys.stderr)
    live: bool | None = None  # None: a live table when ``out`` is a terminal
    rows: dict[int, _Row] = field(default_factory=dict)
    status: str = "InProgress"
    _last_draw: float = 0.0

    def __post_init__(self) -> None:
        if self.live is None:
            self.live = self.out.isatty()

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        line = self._apply(kind, data)
        if self.live:
            now = time.monotonic()
            if kind in ("status", "trial-ended") or now - self._last_draw >= REDRAW_SECONDS:
                self._last_draw = now
                self.out.write("\x1b[H\x1b[2J" + self.render() + "\n")
                self.out.flush()
        elif line:
            self.out.write(line + "\n")
            self.out.flush()

    def _apply(self, kind: str, data: dict[str, Any]) -> str:
        if kind == "trial-started":
            self.rows[data["trial"]] = _Row(data["trial"], data["job"], dict(data["config"]))
            return (f"[{self.name}] trial {data['trial']} started ({data['job']}): "
                    f"{_config(data['config'])}")
        row = self.rows.get(data.get("trial", -1))
        if kind == "objective" and row is not None:
            row.latest, row.epochs = data["value"], data["epoch"]
            return ""
        if kind == "trial-early-stopped" and row is not None:
            row.note = f"stopped early at epoch {data['epoch']}"
            return (f"[{self.name}] trial {row.number} stopped early at epoch {data['epoch']} "
                    f"(objective {_num(row.latest)})")
        if kind == "trial-ended" and row is not None:
            record = data["record"]
            row.status = record["TrainingJobStatus"]
            row.final = data.get("objective")
            text = f"[{self.name}] trial {row.number} {row.status}: objective {_num(row.final)}"
            best = self.best()
            if best is not None and best.number == row.number:
                text += " (best so far)"
            if record.get("FailureReason"):
                text += f" - {record['FailureReason'].splitlines()[0][:160]}"
            return text
        if kind == "completion":
            return f"[{self.name}] {data['reason']}: no new trials"
        if kind == "status":
            self.status = data["status"]
            return f"[{self.name}] tuning job {data['status']}"
        return ""

    def best(self) -> _Row | None:
        found: _Row | None = None
        for row in self.rows.values():
            if row.final is None or row.status == "Failed":
                continue
            if found is None or self.direction.better(row.final, found.final):  # type: ignore[arg-type]
                found = row
        return found

    def render(self) -> str:
        counts: dict[str, int] = {}
        for row in self.rows.values():
            counts[row.status] = counts.get(row.status, 0) + 1
        best = self.best()
        head = (f"{self.name}: {self.status}  "
                + "  ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        if best is not None:
            head += f"  best: trial {best.number} = {_num(best.final)}"
        lines = [head, f"{'#':>4}  {'status':10}  {'epoch':>5}  {'latest':>12}  {'final':>12}  "
                       "hyperparameters"]
        for row in sorted(self.rows.values(), key=lambda r: r.number):
            mark = "*" if best is not None and row.number == best.number else " "
            lines.append(
                f"{row.number:>4}{mark} {row.status:10}  {row.epochs:>5}  {_num(row.latest):>12}  "
                f"{_num(row.final):>12}  {_config(row.config)} {row.note}".rstrip()
            )
        return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _config(config: dict[str, Any]) -> str:
    return " ".join(f"{k}={_num(v) if isinstance(v, float) else v}" for k, v in config.items())
