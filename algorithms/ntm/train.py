"""NTM training under the SageMaker container contract (``train`` in the image runs
``python3 -m algorithms.ntm``).

Channels (CSV, no header, one document a row, ``feature_dim`` columns of non-negative word
counts): ``train`` (required), ``validation`` and ``test`` (optional). Per epoch it prints::

    #quality_metric: host=algo-1, epoch=3, train total_loss <loss>=312.104553
    #quality_metric: host=algo-1, epoch=3, validation total_loss <loss>=318.551270

(and ``recons_loss``, ``kl_loss``; losses are means per document), then the best model's
``test`` metrics without an epoch. Saves to the model folder: ``model.pt`` (state dict and
configuration), ``topic_word.npy`` (num_topics x feature_dim, each row a topic's word
distribution) and ``model.json``; ``output/data/metrics.json`` holds the history.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from algorithms.common.contract import ClientError, Contract, log, run_main
from algorithms.common.hyperparameters import HyperparameterError, parse_hyperparameters
from algorithms.common.torchkit import configure_runtime, load_csv_channel, make_optimizer
from algorithms.common.training import EarlyStopping, Selection, Trainer, write_json
from algorithms.ntm.model import NTM, encoder_sizes

MANIFEST_PATH = Path(__file__).with_name("manifest.json")
CONTENT_TYPES = ("text/csv",)


def load_manifest() -> dict[str, Any]:
    return dict(json.loads(MANIFEST_PATH.read_text(encoding="utf-8")))


def read_documents(contract: Contract, channel: str, feature_dim: int, required: bool = False) -> np.ndarray | None:
    folder = contract.channel(channel, required=required, content_types=CONTENT_TYPES)
    if folder is None:
        return None
    data = load_csv_channel(folder, channel)
    if data.shape[1] != feature_dim:
        raise ClientError(f"channel {channel!r}: rows have {data.shape[1]} columns but feature_dim is {feature_dim} "
                          "(NTM's CSV holds word counts only, no label column)")
    if (data < 0).any():
        row = int(np.argwhere(data < 0)[0][0]) + 1
        raise ClientError(f"channel {channel!r}: row {row} holds a negative word count")
    return data


def step(model: torch.nn.Module, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict[str, float]]:
    out = model(batch[0], sample=True)
    parts = {"total_loss": float(out["total"].detach().sum()), "recons_loss": float(out["recons"].detach().sum()),
             "kl_loss": float(out["kl"].detach().sum())}
    return out["total"].mean(), parts


def evaluate(model: torch.nn.Module, data: tuple[torch.Tensor, ...]) -> dict[str, float]:
    """Mean losses per document, with the posterior mean (no sampling noise: an epoch's
    validation number depends on the model only)."""
    x = data[0]
    sums = {"total_loss": 0.0, "recons_loss": 0.0, "kl_loss": 0.0}
    for start in range(0, x.shape[0], 4096):
        out = model(x[start:start + 4096], sample=False)
        sums["total_loss"] += float(out["total"].sum())
        sums["recons_loss"] += float(out["recons"].sum())
        sums["kl_loss"] += float(out["kl"].sum())
    return {k: v / max(x.shape[0], 1) for k, v in sums.items()}


def train(contract: Contract) -> None:
    manifest = load_manifest()
    try:
        hp = parse_hyperparameters(manifest, contract.hyperparameters())
    except HyperparameterError as exc:
        raise ClientError(f"invalid hyperparameters: {exc}") from None
    log("hyperparameters: " + json.dumps(hp, sort_keys=True, default=str))
    sizes = encoder_sizes(hp["encoder_layers"], hp["num_topics"])
    device = configure_runtime(hp["seed"])

    train_x = read_documents(contract, "train", hp["feature_dim"], required=True)
    assert train_x is not None
    extra = {name: read_documents(contract, name, hp["feature_dim"]) for name in ("validation", "test")}
    tensors = {"train": train_x, **{k: v for k, v in extra.items() if v is not None}}
    data = {k: (torch.as_tensor(v, dtype=torch.float32, device=device),) for k, v in tensors.items()}

    model = NTM(hp["feature_dim"], hp["num_topics"], sizes, hp["encoder_layers_activation"],
                batch_norm=hp["batch_norm"] == "true").to(device)
    optimizer = make_optimizer(hp["optimizer"], model.parameters(), hp["learning_rate"], hp["weight_decay"],
                               mxnet_adadelta=True)
    watched = "validation" if "validation" in data else "train"
    trainer = Trainer(
        contract=contract, model=model, optimizer=optimizer, step=step, evaluate=evaluate,
        train_set=data["train"], eval_sets={k: v for k, v in data.items() if k == "validation"},
        epochs=hp["epochs"], mini_batch_size=hp["mini_batch_size"], seed=hp["seed"],
        selection=Selection(watched, "total_loss", "min"),
        stopper=EarlyStopping(hp["num_patience_epochs"], hp["tolerance"], "min"),
        fingerprint={"feature_dim": hp["feature_dim"], "num_topics": hp["num_topics"], "encoder_layers": sizes,
                     "encoder_layers_activation": hp["encoder_layers_activation"], "batch_norm": hp["batch_norm"],
                     "optimizer": hp["optimizer"]},
        rescale_gradient=hp["rescale_gradient"], clip_gradient=hp["clip_gradient"],
        skip_single=hp["batch_norm"] == "true",
    )
    outcome = trainer.fit()
    if outcome.stopped_by != "sigterm" and "test" in data:
        trainer.final_metrics(outcome, {"test": data["test"]})

    model.eval()
    contract.model_dir.mkdir(parents=True, exist_ok=True)
    config = {"feature_dim": hp["feature_dim"], "num_topics": hp["num_topics"], "encoder_layers": sizes,
              "encoder_layers_activation": hp["encoder_layers_activation"], "batch_norm": hp["batch_norm"] == "true"}
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"config": config, "state_dict": state}, contract.model_dir / "model.pt")
    np.save(contract.model_dir / "topic_word.npy", model.topic_word().detach().cpu().numpy().astype(np.float32))
    summary = {"algorithm": "ntm", "config": config, "hyperparameters": hp, "epochs_run": outcome.epochs_run,
               "best_epoch": outcome.best_epoch, f"best_{watched}_total_loss": outcome.best_value,
               "stopped_by": outcome.stopped_by, "final": outcome.final, "torch": torch.__version__}
    write_json(contract.model_dir / "model.json", summary)
    write_json(contract.output_data_dir / "metrics.json", {"history": outcome.history, **summary})
    log(f"saved the model to {contract.model_dir} ({outcome.epochs_run} epoch(s), stopped by {outcome.stopped_by})")


def main() -> int:
    return run_main(train)
