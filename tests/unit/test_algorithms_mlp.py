"""The MLP's training code without Docker, on tiny generated data, in a temporary
/opt/ml-like folder (``SM_OPT_ML_PREFIX``). Needs torch in the test environment
(``.venv/bin/pip install torch==2.13.0`` takes the CPU wheel)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.dont_write_bytecode = True  # keep __pycache__ out of algorithms/ (an image build context)
torch = pytest.importorskip("torch")

from algorithms.common import localrun  # noqa: E402
from algorithms.mlp import train as mlp_train  # noqa: E402

MANIFEST = json.loads(mlp_train.MANIFEST_PATH.read_text())
BASE_HPS = {"num_classes": "3", "hidden_units": "16", "learning_rate": "0.01",
            "mini_batch_size": "16", "seed": "5"}


def blobs(n: int, seed: int, noise: float = 0.6, random_labels: bool = False) -> np.ndarray:
    """Three Gaussian blobs in 4 dimensions; rows are ``label, x1..x4``."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 0, 0], [3, 3, 0, 0], [0, 3, 3, 3]], dtype=float)
    labels = rng.integers(0, 3, size=n)
    x = centres[labels] + noise * rng.standard_normal((n, 4)) + 10  # offset: normalisation matters
    if random_labels:
        labels = rng.integers(0, 3, size=n)
    return np.column_stack([labels, x])


def write(folder: Path, rows: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    np.savetxt(folder / "data.csv", rows, delimiter=",", fmt="%.6f")
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("mlp-data")
    return {"train": write(out / "train", blobs(300, 1)),
            "validation": write(out / "validation", blobs(90, 2)),
            "test": write(out / "test", blobs(90, 3))}


def run(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    monkeypatch.setenv("SM_OPT_ML_PREFIX", str(root))
    code = mlp_train.main()
    out = capsys.readouterr()
    return code, out.out + out.err


def scrape(log: str) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {}
    for line in log.splitlines():
        for d in MANIFEST["MetricDefinitions"]:
            m = re.search(d["Regex"], line)
            if m:
                found.setdefault(d["Name"], []).append(float(m.group(1)))
    return found


def test_loss_falls_accuracy_rises_and_metric_lines_match_the_manifest(
        tmp_path: Path, data: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = localrun.make_tree(tmp_path / "ml", {**BASE_HPS, "epochs": "10"}, data)
    code, log = run(root, monkeypatch, capsys)
    assert code == 0, log
    metrics = scrape(log)
    for name in ("train:loss", "train:accuracy", "validation:loss", "validation:accuracy"):
        assert len(metrics[name]) == 10, name
    assert len(metrics["test:loss"]) == 1 and len(metrics["test:accuracy"]) == 1
    assert metrics["validation:loss"][-1] < metrics["validation:loss"][0] * 0.5
    assert metrics["validation:accuracy"][-1] > 0.9 and metrics["test:accuracy"][0] > 0.9
    assert metrics["train:loss"][-1] < metrics["train:loss"][0]
    quality = [line for line in log.splitlines() if line.startswith("#quality_metric")]
    assert len(quality) == 10 * 4 + 2
    for line in quality:
        assert "\t" not in line
        assert (sum(bool(re.search(d["Regex"], line)) for d in MANIFEST["MetricDefinitions"])
                == 1), line
    assert "#quality_metric: host=algo-1, epoch=10, validation accuracy <score>=" in log
    saved = torch.load(root / "model" / "model.pt", weights_only=False)
    assert saved["config"] == {"feature_dim": 4, "num_classes": 3, "hidden_units": [16],
                               "activation": "relu", "dropout": 0.0, "batch_norm": False}
    assert (saved["state_dict"]["mean"].tolist() == pytest.approx(blobs(300, 1)[:, 1:].mean(0),
                                                                  abs=1e-4))
    summary = json.loads((root / "model" / "model.json").read_text())
    assert (summary["best_validation_loss"] == pytest.approx(min(metrics["validation:loss"]),
                                                             abs=1e-5))
    assert (summary["final"]["test"]["accuracy"]
            == pytest.approx(metrics["test:accuracy"][0], abs=1e-5))


def test_early_stopping_on_a_rising_validation_loss(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # random labels: the model memorises the training set and the validation loss climbs
    train = write(tmp_path / "train", blobs(60, 1, random_labels=True))
    valid = write(tmp_path / "validation", blobs(60, 2, random_labels=True))
    hps = {**BASE_HPS, "hidden_units": "64,64", "learning_rate": "0.01", "epochs": "200",
           "early_stopping_patience": "3"}
    root = localrun.make_tree(tmp_path / "ml", hps, {"train": train, "validation": valid})
    code, log = run(root, monkeypatch, capsys)
    assert code == 0, log
    summary = json.loads((root / "model" / "model.json").read_text())
    assert summary["stopped_by"] == "early_stopping"
    assert summary["epochs_run"] < 200
    assert summary["best_epoch"] == summary["epochs_run"] - 3
    losses = scrape(log)["validation:loss"]
    assert len(losses) == summary["epochs_run"]
    assert min(losses[-3:]) >= losses[summary["best_epoch"] - 1]
    assert (f"early stopping at epoch {summary['epochs_run']}: validation loss has not improved "
            "for 3 epoch(s)") in log


def test_no_early_stopping_when_patience_is_zero(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    train = write(tmp_path / "train", blobs(60, 1, random_labels=True))
    valid = write(tmp_path / "validation", blobs(60, 2, random_labels=True))
    hps = {**BASE_HPS, "hidden_units": "64,64", "epochs": "25"}
    root = localrun.make_tree(tmp_path / "ml", hps, {"train": train, "validation": valid})
    code, log = run(root, monkeypatch, capsys)
    assert code == 0, log
    summary = json.loads((root / "model" / "model.json").read_text())
    assert summary["stopped_by"] == "epochs" and summary["epochs_run"] == 25


def test_checkpoint_resume_continues_where_it_stopped(
        tmp_path: Path, data: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # random state and running statistics too
    hps = {**BASE_HPS, "dropout": "0.2", "batch_norm": "true"}
    whole = localrun.make_tree(tmp_path / "whole", {**hps, "epochs": "5"}, data, checkpoints=True)
    code, log_whole = run(whole, monkeypatch, capsys)
    assert code == 0, log_whole
    part = localrun.make_tree(tmp_path / "part", {**hps, "epochs": "2"}, data, checkpoints=True)
    assert run(part, monkeypatch, capsys)[0] == 0
    localrun.make_tree(part, {**hps, "epochs": "5"}, data, checkpoints=True)
    code, log_second = run(part, monkeypatch, capsys)
    assert code == 0, log_second
    assert "continuing at epoch 3" in log_second
    def lines(log: str) -> list[str]:
        return [line for line in log.splitlines() if line.startswith("#quality_metric")
                and any(f"epoch={e}," in line for e in (3, 4, 5))]
    assert lines(log_second) == lines(log_whole) and len(lines(log_whole)) == 12
    # the test metrics of the best model agree too
    assert scrape(log_second)["test:loss"] == scrape(log_whole)["test:loss"]


@pytest.mark.parametrize(("hps", "expected"), [
    ({"num_classes": None}, "num_classes: is required"),
    ({"dropout": "2"}, "dropout: 2 is above the maximum 0.9"),
    ({"hidden_units": "a,b"},
     "hidden_units: must be 'none' or a comma-separated list of positive integers (got 'a,b')"),
    ({"optimizer": "newton"}, "optimizer: must be one of"),
    ({"epochs": "ten", "batch_norm": "yes"},
     "epochs: must be an integer (got 'ten'); batch_norm: must be one of true, false (got 'yes')"),
])
def test_bad_hyperparameters_fail_cleanly(
        hps: dict[str, str | None], expected: str, tmp_path: Path, data: dict[str, Path],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    merged = {k: v for k, v in {**BASE_HPS, **hps}.items() if v is not None}
    root = localrun.make_tree(tmp_path / "ml", merged, data)
    code, log = run(root, monkeypatch, capsys)
    assert code == 2
    failure = (root / "output" / "failure").read_text()
    assert failure.startswith("ClientError: invalid hyperparameters: ")
    assert expected in failure
    assert not (root / "model" / "model.pt").exists()


@pytest.mark.parametrize(("rows", "hps", "expected"), [
    ("7,1,2,3,4\n", {},
     "channel 'train': row 1 has label 7; labels must be integers 0 .. 2 (num_classes=3)"),
    ("0.5,1,2,3,4\n", {}, "row 1 has label 0.5"),
    ("1\n", {}, "rows need a label and at least one feature"),
    ("1,2,3\n", {"feature_dim": "4"}, "rows have 2 features but feature_dim is 4"),
    ("1,2,x\n", {}, "is not a CSV of numbers"),
    ("1,2,nan\n", {}, "row 1 holds a value that is not finite"),
])
def test_bad_data_fails_cleanly(rows: str, hps: dict[str, str], expected: str, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "part.csv").write_text(rows)
    root = localrun.make_tree(tmp_path / "ml", {**BASE_HPS, **hps}, {"train": bad})
    code, _log = run(root, monkeypatch, capsys)
    assert code == 2
    failure = (root / "output" / "failure").read_text()
    assert failure.startswith("ClientError: channel 'train'") and expected in failure


def test_validation_with_other_features_fails(tmp_path: Path, data: dict[str, Path],
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    valid = write(tmp_path / "v", blobs(10, 4)[:, :4])
    root = localrun.make_tree(tmp_path / "ml", BASE_HPS,
                              {"train": data["train"], "validation": valid})
    assert run(root, monkeypatch, capsys)[0] == 2
    assert ("channel 'validation': rows have 3 features but "
            "feature_dim is 4") in (root / "output" / "failure").read_text()


def test_early_stopping_needs_validation(tmp_path: Path, data: dict[str, Path],
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    root = localrun.make_tree(tmp_path / "ml", {**BASE_HPS, "early_stopping_patience": "2"},
                              {"train": data["train"]})
    assert run(root, monkeypatch, capsys)[0] == 2
    assert (root / "output" / "failure").read_text() == (
        "ClientError: early_stopping_patience > 0 needs a validation channel")


def test_diverging_loss_is_an_algorithm_error(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    rows = blobs(100, 1)
    rows[:, 1:] *= 1e20  # unscaled huge features and a huge step: float32 overflows
    hps = {**BASE_HPS, "optimizer": "sgd", "learning_rate": "10", "normalize_data": "false",
           "epochs": "30"}
    root = localrun.make_tree(tmp_path / "ml", hps, {"train": write(tmp_path / "train", rows)})
    code, log = run(root, monkeypatch, capsys)
    assert code == 1, log
    assert (root / "output" / "failure").read_text().startswith(
        "AlgorithmError: the loss diverged at epoch")


def test_sigterm_saves_the_best_model_and_exits_zero(tmp_path: Path) -> None:
    train = write(tmp_path / "train", blobs(3000, 1))
    hps = {**BASE_HPS, "epochs": "1000", "mini_batch_size": "1"}
    root = localrun.make_tree(tmp_path / "ml", hps, {"train": train})
    proc = subprocess.Popen(localrun.command("mlp"), env=localrun.environment(root),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("epoch 1 done"):
            break
        assert time.monotonic() < deadline, "no epoch in time"
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    log = "".join(lines) + rest
    assert proc.returncode == 0, log
    assert "SIGTERM received" in log
    summary = json.loads((root / "model" / "model.json").read_text())
    assert summary["stopped_by"] == "sigterm" and summary["epochs_run"] < 1000
    assert (root / "model" / "model.pt").exists()
