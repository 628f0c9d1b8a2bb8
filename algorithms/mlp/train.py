"""MLP classifier training under the SageMaker container contract (``train`` in the image
runs ``python3 -m algorithms.mlp``).

Channels (CSV, no header, one record a row: the label 0 .. num_classes-1 first, then the
features): ``train`` (required), ``validation`` and ``test`` (optional). Per epoch it prints::

    #quality_metric: host=algo-1, epoch=3, train loss <loss>=0.104553
    #quality_metric: host=algo-1, epoch=3, validation loss <loss>=0.118551
    #quality_metric: host=algo-1, epoch=3, validation accuracy <score>=0.969359

(and ``train accuracy``; the loss is the mean cross-entropy), then the best model's
``test`` metrics without an epoch. The best model is the one with the lowest validation
loss (training loss without a validation channel); ``early_stopping_patience`` > 0 stops
when the validation loss has not improved for that many epochs. Saves ``model.pt`` (state
dict with the standardisation, and configuration) and ``model.json`` to the model folder,
``output/data/metrics.json`` the history.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from algorithms.common.contract import ClientError, Contract, log, run_main
from algorithms.common.hyperparameters import HyperparameterError, parse_hyperparameters
from algorithms.common.torchkit import configure_runtime, load_csv_channel, make_optimizer
from algorithms.common.training import EarlyStopping, Selection, Trainer, write_json
from algorithms.mlp.model import MLP, hidden_sizes

MANIFEST_PATH = Path(__file__).with_name("manifest.json")
CONTENT_TYPES = ("text/csv",)


def load_manifest() -> dict[str, Any]:
    return dict(json.loads(MANIFEST_PATH.read_text(encoding="utf-8")))


def read_records(contract: Contract, channel: str, num_classes: int, feature_dim: int | None,
                 required: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    folder = contract.channel(channel, required=required, content_types=CONTENT_TYPES)
    if folder is None:
        return None
    data = load_csv_channel(folder, channel)
    if data.shape[1] < 2:
        raise ClientError(f"channel {channel!r}: rows need a label and at least one feature (got {data.shape[1]} column)")
    labels, features = data[:, 0], data[:, 1:]
    if feature_dim is not None and features.shape[1] != feature_dim:
        raise ClientError(f"channel {channel!r}: rows have {features.shape[1]} features but feature_dim is {feature_dim} "
                          "(the first column is the label)")
    bad = (labels != np.round(labels)) | (labels < 0) | (labels >= num_classes)
    if bad.any():
        row = int(np.argmax(bad)) + 1
        raise ClientError(f"channel {channel!r}: row {row} has label {labels[row - 1]:g}; labels must be integers "
                          f"0 .. {num_classes - 1} (num_classes={num_classes}) in the first column")
    return features, labels.astype(np.int64)


def step(model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict[str, float]]:
    x, y = batch
    logits = model(x)
    losses = F.cross_entropy(logits, y, reduction="none")
    correct = (logits.argmax(dim=1) == y).sum()
    return losses.mean(), {"loss": float(losses.detach().sum()), "accuracy": float(correct)}


def evaluate(model: torch.nn.Module, data: tuple[torch.Tensor, ...]) -> dict[str, float]:
    x, y = data
    loss, correct = 0.0, 0
    for start in range(0, x.shape[0], 8192):
        logits = model(x[start:start + 8192])
        target = y[start:start + 8192]
        loss += float(F.cross_entropy(logits, target, reduction="sum"))
        correct += int((logits.argmax(dim=1) == target).sum())
    n = max(x.shape[0], 1)
    return {"loss": loss / n, "accuracy": correct / n}


def train(contract: Contract) -> None:
    manifest = load_manifest()
    try:
        hp = parse_hyperparameters(manifest, contract.hyperparameters())
    except HyperparameterError as exc:
        raise ClientError(f"invalid hyperparameters: {exc}") from None
    log("hyperparameters: " + json.dumps(hp, sort_keys=True, default=str))
    hidden = hidden_sizes(hp["hidden_units"])
    device = configure_runtime(hp["seed"])

    num_classes = hp["num_classes"]
    train_data = read_records(contract, "train", num_classes, hp["feature_dim"], required=True)
    assert train_data is not None
    feature_dim = train_data[0].shape[1]
    sets = {"train": train_data}
    for name in ("validation", "test"):
        found = read_records(contract, name, num_classes, feature_dim)
        if found is not None:
            sets[name] = found
    if hp["early_stopping_patience"] > 0 and "validation" not in sets:
        raise ClientError("early_stopping_patience > 0 needs a validation channel")
    data = {k: (torch.as_tensor(x, dtype=torch.float32, device=device), torch.as_tensor(y, device=device))
            for k, (x, y) in sets.items()}

    batch_norm = hp["batch_norm"] == "true"
    model = MLP(feature_dim, num_classes, hidden, hp["activation"], hp["dropout"], batch_norm).to(device)
    if hp["normalize_data"] == "true":
        x = data["train"][0]
        model.set_normalization(x.mean(dim=0), x.std(dim=0, unbiased=False))
    optimizer = make_optimizer(hp["optimizer"], model.parameters(), hp["learning_rate"], hp["weight_decay"],
                               momentum=hp["momentum"])
    watched = "validation" if "validation" in data else "train"
    trainer = Trainer(
        contract=contract, model=model, optimizer=optimizer, step=step, evaluate=evaluate,
        train_set=data["train"], eval_sets={k: v for k, v in data.items() if k == "validation"},
        epochs=hp["epochs"], mini_batch_size=hp["mini_batch_size"], seed=hp["seed"],
        selection=Selection(watched, "loss", "min"),
        stopper=EarlyStopping(hp["early_stopping_patience"], hp["early_stopping_tolerance"], "min"),
        fingerprint={"feature_dim": feature_dim, "num_classes": num_classes, "hidden_units": hidden,
                     "activation": hp["activation"], "dropout": hp["dropout"], "batch_norm": hp["batch_norm"],
                     "optimizer": hp["optimizer"]},
        metric_kinds={"loss": "loss", "accuracy": "score"},
        skip_single=batch_norm,
    )
    outcome = trainer.fit()
    if outcome.stopped_by != "sigterm" and "test" in data:
        trainer.final_metrics(outcome, {"test": data["test"]})

    model.eval()
    contract.model_dir.mkdir(parents=True, exist_ok=True)
    config = {"feature_dim": feature_dim, "num_classes": num_classes, "hidden_units": hidden,
              "activation": hp["activation"], "dropout": hp["dropout"], "batch_norm": batch_norm}
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"config": config, "state_dict": state}, contract.model_dir / "model.pt")
    summary = {"algorithm": "mlp", "config": config, "hyperparameters": hp, "epochs_run": outcome.epochs_run,
               "best_epoch": outcome.best_epoch, f"best_{watched}_loss": outcome.best_value,
               "stopped_by": outcome.stopped_by, "final": outcome.final, "torch": torch.__version__}
    write_json(contract.model_dir / "model.json", summary)
    write_json(contract.output_data_dir / "metrics.json", {"history": outcome.history, **summary})
    log(f"saved the model to {contract.model_dir} ({outcome.epochs_run} epoch(s), stopped by {outcome.stopped_by})")


def main() -> int:
    return run_main(train)
