"""The epoch loop both algorithms share: shuffled mini-batches, gradient rules, per-epoch
metric lines, best-model tracking, early stopping, a checkpoint every epoch and resuming
from the latest one, and SIGTERM (stop between mini-batches, keep the best model).

A resumed run continues exactly where the checkpoint left off: each epoch's shuffle comes
from a generator seeded by (seed, epoch), and the checkpoint carries the model, the
optimizer, torch's random state (dropout, sampling noise), the best model so far, the
early-stopping counters and the metric history. With the same seed, a run cut after
epoch k and resumed prints the same numbers as a run that never stopped.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from algorithms.common.contract import STOP, AlgorithmError, ClientError, Contract, log
from algorithms.common.torchkit import Checkpoints, adjust_gradients, metric_line

Batch = tuple[torch.Tensor, ...]
#: A mini-batch's loss to minimise (a mean over its records) and the sums over its records
#: of the parts to report (e.g. ``{"total_loss": ..., "recons_loss": ...}``).
StepFn = Callable[[torch.nn.Module, Batch], tuple[torch.Tensor, dict[str, float]]]
#: A whole data set's metrics (means over records), model in eval mode, no gradients.
EvalFn = Callable[[torch.nn.Module, Batch], dict[str, float]]


class EarlyStopping:
    """Stop when the watched metric has not improved by more than ``tolerance`` (relative
    to the best so far) for ``patience`` epochs in a row. ``patience`` <= 0: never stop."""

    def __init__(self, patience: int, tolerance: float = 0.0, mode: str = "min"):
        self.patience, self.tolerance, self.mode = patience, tolerance, mode
        self.best: float | None = None
        self.bad_epochs = 0

    def improved(self, value: float) -> bool:
        if self.best is None:
            return True
        margin = self.tolerance * abs(self.best)
        return value < self.best - margin if self.mode == "min" else value > self.best + margin

    def update(self, value: float) -> bool:
        """Record one epoch's value; True when training should stop."""
        if self.improved(value):
            self.best = value
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        return self.patience > 0 and self.bad_epochs >= self.patience

    def state(self) -> dict[str, Any]:
        return {"best": self.best, "bad_epochs": self.bad_epochs}

    def load(self, state: dict[str, Any]) -> None:
        self.best, self.bad_epochs = state["best"], state["bad_epochs"]


@dataclass
class Selection:
    """Which metric picks the best model and drives early stopping."""

    channel: str
    name: str
    mode: str = "min"

    def better(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        return value < best if self.mode == "min" else value > best


@dataclass
class Outcome:
    epochs_run: int
    best_epoch: int | None
    best_value: float | None
    stopped_by: str  # "epochs", "early_stopping", "sigterm"
    history: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class Trainer:
    contract: Contract
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    step: StepFn
    evaluate: EvalFn
    train_set: Batch
    eval_sets: dict[str, Batch]
    epochs: int
    mini_batch_size: int
    seed: int
    selection: Selection
    stopper: EarlyStopping
    #: Hyperparameters that fix the model's shape; a checkpoint written with others is refused.
    fingerprint: dict[str, Any]
    metric_kinds: dict[str, str] = field(default_factory=dict)  # name -> "loss" / "score"
    rescale_gradient: float = 1.0
    clip_gradient: float = math.inf
    #: With batch norm a mini-batch of one record cannot be trained on: it is skipped.
    skip_single: bool = False

    def _line(self, epoch: int | None, channel: str, metrics: dict[str, float]) -> None:
        host = self.contract.current_host
        for name, value in metrics.items():
            log(metric_line(host, epoch, channel, name, value, self.metric_kinds.get(name, "loss")))

    def _state(self, epoch: int, best: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "fingerprint": self.fingerprint,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "best": best,
            "stopper": self.stopper.state(),
            "history": history,
        }

    def _resume(self, checkpoints: Checkpoints, best: dict[str, Any], history: list[dict[str, Any]]) -> int:
        found = checkpoints.latest()
        if found is None:
            return 1
        path, state = found
        if state.get("fingerprint") != self.fingerprint:
            theirs = state.get("fingerprint") or {}
            diffs = ", ".join(f"{k}={theirs.get(k)!r} there, {v!r} here"
                              for k, v in self.fingerprint.items() if theirs.get(k) != v)
            raise ClientError(f"the checkpoint {path.name} in {checkpoints.folder} was written for another "
                              f"model ({diffs or 'unknown'}): start with an empty checkpoint folder")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        best.update(state["best"])
        self.stopper.load(state["stopper"])
        history.extend(state["history"])
        log(f"resumed from checkpoint {path.name}: epoch {state['epoch']} done, continuing at epoch {state['epoch'] + 1}")
        return int(state["epoch"]) + 1

    def _train_epoch(self, epoch: int) -> dict[str, float] | None:
        """One pass over the training set; the means of the step's parts, or None when a
        SIGTERM cut the epoch short."""
        x = self.train_set
        n = x[0].shape[0]
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + epoch))
        order = order.to(x[0].device)
        sums: dict[str, float] = {}
        seen = 0
        self.model.train()
        params = [p for p in self.model.parameters() if p.requires_grad]
        for start in range(0, n, self.mini_batch_size):
            if STOP.noticed():
                return None
            idx = order[start:start + self.mini_batch_size]
            if self.skip_single and idx.numel() < 2:
                continue
            batch = tuple(t[idx] for t in x)
            loss, parts = self.step(self.model, batch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            adjust_gradients(params, self.rescale_gradient, self.clip_gradient)
            self.optimizer.step()
            for key, value in parts.items():
                sums[key] = sums.get(key, 0.0) + value
            seen += idx.numel()
        return {k: v / max(seen, 1) for k, v in sums.items()}

    @torch.no_grad()
    def _evaluate(self, data: Batch) -> dict[str, float]:
        self.model.eval()
        return self.evaluate(self.model, data)

    def fit(self) -> Outcome:
        if self.skip_single and self.train_set[0].shape[0] < 2:
            raise ClientError("batch_norm needs at least 2 training records")
        folder = self.contract.checkpoint_dir()
        checkpoints = Checkpoints(folder) if folder is not None else None
        best: dict[str, Any] = {"epoch": None, "value": None, "model": None}
        history: list[dict[str, Any]] = []
        first = self._resume(checkpoints, best, history) if checkpoints else 1
        if checkpoints is None:
            log("no checkpoint folder (CheckpointConfig not set): not checkpointing")
        stopped_by = "epochs"
        epoch = first - 1
        if first > 1 and history and history[-1].get("stop") == "early_stopping":
            stopped_by = "early_stopping"
            log("the checkpoint's run had already stopped early: nothing left to train")
        else:
            for epoch in range(first, self.epochs + 1):
                began = time.monotonic()
                train_metrics = self._train_epoch(epoch)
                if train_metrics is None:
                    stopped_by = "sigterm"
                    epoch -= 1
                    break
                record: dict[str, Any] = {"epoch": epoch, "train": train_metrics}
                for channel, data in self.eval_sets.items():
                    record[channel] = self._evaluate(data)
                self._line(epoch, "train", train_metrics)
                for channel in self.eval_sets:
                    self._line(epoch, channel, record[channel])
                watched = record.get(self.selection.channel, train_metrics)[self.selection.name]
                if not all(math.isfinite(v) for v in train_metrics.values()) or not math.isfinite(watched):
                    raise AlgorithmError(f"the loss diverged at epoch {epoch} (not finite): "
                                         "lower learning_rate, or set clip_gradient")
                if self.selection.better(watched, best["value"]):
                    best.update(epoch=epoch, value=watched, model=copy.deepcopy(self.model.state_dict()))
                stop = self.stopper.update(watched)
                record["seconds"] = round(time.monotonic() - began, 4)
                if stop:
                    record["stop"] = "early_stopping"
                history.append(record)
                if checkpoints is not None:
                    checkpoints.save(epoch, self._state(epoch, best, history))
                log(f"epoch {epoch} done in {record['seconds']:.3f} s")
                if stop:
                    stopped_by = "early_stopping"
                    log(f"early stopping at epoch {epoch}: {self.selection.channel} {self.selection.name} has not "
                        f"improved for {self.stopper.patience} epoch(s)")
                    break
                if STOP.noticed():
                    stopped_by = "sigterm"
                    break
        if best["model"] is not None:
            self.model.load_state_dict(best["model"])
            log(f"best model: epoch {best['epoch']}, {self.selection.channel} {self.selection.name}={best['value']:.6f}")
        outcome = Outcome(epochs_run=epoch, best_epoch=best["epoch"], best_value=best["value"],
                          stopped_by=stopped_by, history=history)
        return outcome

    def final_metrics(self, outcome: Outcome, channels: dict[str, Batch]) -> None:
        """The best model's metrics on extra channels (e.g. test), printed without an epoch."""
        for channel, data in channels.items():
            outcome.final[channel] = self._evaluate(data)
            self._line(None, channel, outcome.final[channel])


def _plain(value: Any) -> Any:
    """JSON-safe: non-finite floats as strings ("inf", "nan"), tuples as lists."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def write_json(path: Any, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_plain(payload), indent=1, sort_keys=True, allow_nan=False, default=str)
    path.write_text(text + "\n", encoding="utf-8")
