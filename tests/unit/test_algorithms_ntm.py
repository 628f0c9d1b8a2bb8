"""NTM's training code without Docker, on a tiny generated corpus, in a temporary
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
from algorithms.ntm import train as ntm_train  # noqa: E402
from algorithms.ntm.make_data import write_corpus  # noqa: E402

MANIFEST = json.loads(ntm_train.MANIFEST_PATH.read_text())
V, K = 40, 4
BASE_HPS = {"feature_dim": str(V), "num_topics": str(K), "optimizer": "adam",
            "learning_rate": "0.05",
            "mini_batch_size": "32", "num_patience_epochs": "100", "seed": "3"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ntm-data")
    write_corpus(out, num_topics=K, vocab_size=V, num_docs=320, doc_length=40, alpha=0.1, beta=0.1,
                 seed=7)
    return out


def channels(
    corpus: Path, names: tuple[str, ...] = ("train", "validation", "test")
) -> dict[str, Path]:
    return {name: corpus / name for name in names}


def run(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """The training code in this process, as the container runs it."""
    monkeypatch.setenv("SM_OPT_ML_PREFIX", str(root))
    code = ntm_train.main()
    out = capsys.readouterr()
    return code, out.out + out.err


def scrape(log: str) -> dict[str, list[float]]:
    """The manifest's MetricDefinitions applied line by line, as the runner applies them."""
    found: dict[str, list[float]] = {}
    for line in log.splitlines():
        for d in MANIFEST["MetricDefinitions"]:
            m = re.search(d["Regex"], line)
            if m:
                found.setdefault(d["Name"], []).append(float(m.group(1)))
    return found


def test_loss_falls_and_every_metric_line_matches_the_manifest(
        tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = localrun.make_tree(tmp_path / "ml", {**BASE_HPS, "epochs": "8"}, channels(corpus))
    code, log = run(root, monkeypatch, capsys)
    assert code == 0, log
    metrics = scrape(log)
    for name in ("train:total_loss", "train:recons_loss", "train:kl_loss",
                 "validation:total_loss", "validation:recons_loss", "validation:kl_loss"):
        assert len(metrics[name]) == 8, name
    for name in ("test:total_loss", "test:recons_loss", "test:kl_loss"):
        assert len(metrics[name]) == 1, name
    valid = metrics["validation:total_loss"]
    assert valid[-1] < valid[0] * 0.9
    assert metrics["train:total_loss"][-1] < metrics["train:total_loss"][0]
    for total, recons, kl in zip(valid, metrics["validation:recons_loss"],
                                 metrics["validation:kl_loss"], strict=True):
        assert total == pytest.approx(recons + kl, abs=1e-3)
    # every quality line is matched by exactly one definition; no tabs
    quality = [line for line in log.splitlines() if line.startswith("#quality_metric")]
    assert len(quality) == 8 * 6 + 3
    for line in quality:
        assert "\t" not in line
        assert (sum(bool(re.search(d["Regex"], line)) for d in MANIFEST["MetricDefinitions"])
                == 1), line
    assert "#quality_metric: host=algo-1, epoch=1, validation total_loss <loss>=" in log
    # the model
    model = root / "model"
    topic_word = np.load(model / "topic_word.npy")
    assert topic_word.shape == (K, V) and np.allclose(topic_word.sum(1), 1, atol=1e-5)
    saved = torch.load(model / "model.pt", weights_only=False)
    assert saved["config"]["encoder_layers"] == [3 * K, 2 * K]
    summary = json.loads((model / "model.json").read_text())
    assert summary["epochs_run"] == 8 and summary["stopped_by"] == "epochs"
    assert summary["best_validation_total_loss"] == pytest.approx(min(valid), abs=1e-5)
    history = json.loads((root / "output" / "data" / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == list(range(1, 9))
    assert not (root / "output" / "failure").exists()


def test_same_seed_same_numbers(tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    logs = []
    for i in range(2):
        root = localrun.make_tree(tmp_path / f"ml{i}", {**BASE_HPS, "epochs": "3"},
                                  channels(corpus))
        code, log = run(root, monkeypatch, capsys)
        assert code == 0, log
        logs.append([line for line in log.splitlines() if line.startswith("#quality_metric")])
    assert logs[0] == logs[1]


def test_checkpoint_resume_continues_where_it_stopped(
        tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # one run of 6 epochs ...
    whole = localrun.make_tree(tmp_path / "whole", {**BASE_HPS, "epochs": "6"}, channels(corpus),
                               checkpoints=True)
    code, log_whole = run(whole, monkeypatch, capsys)
    assert code == 0, log_whole
    # ... against 3 epochs, then the same job again with epochs=6 on the same checkpoint folder
    part = localrun.make_tree(tmp_path / "part", {**BASE_HPS, "epochs": "3"}, channels(corpus),
                              checkpoints=True)
    code, log_first = run(part, monkeypatch, capsys)
    assert code == 0, log_first
    assert sorted(p.name for p in (part / "checkpoints").iterdir()) == ["checkpoint-00002.pt",
                                                                        "checkpoint-00003.pt"]
    localrun.make_tree(part, {**BASE_HPS, "epochs": "6"}, channels(corpus), checkpoints=True)
    code, log_second = run(part, monkeypatch, capsys)
    assert code == 0, log_second
    assert ("resumed from checkpoint checkpoint-00003.pt: epoch 3 done, "
            "continuing at epoch 4") in log_second
    epochs_second = [int(m) for m in re.findall(r"epoch=(\d+), validation total_loss", log_second)]
    assert epochs_second == [4, 5, 6]
    # the resumed run prints exactly what the uninterrupted run printed for epochs 4-6
    def lines(log: str, epochs: range) -> list[str]:
        return [line for line in log.splitlines()
                if line.startswith("#quality_metric")
                and any(f"epoch={e}," in line for e in epochs)]
    assert lines(log_second, range(4, 7)) == lines(log_whole, range(4, 7))
    assert np.array_equal(np.load(part / "model" / "topic_word.npy"),
                          np.load(whole / "model" / "topic_word.npy"))
    history = json.loads((part / "output" / "data" / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5, 6]


def test_checkpoint_of_another_model_is_refused(
        tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = localrun.make_tree(tmp_path / "ml", {**BASE_HPS, "epochs": "1"}, channels(corpus),
                              checkpoints=True)
    assert run(root, monkeypatch, capsys)[0] == 0
    localrun.make_tree(root, {**BASE_HPS, "epochs": "2", "num_topics": "5"}, channels(corpus),
                       checkpoints=True)
    code, log = run(root, monkeypatch, capsys)
    assert code == 2
    failure = (root / "output" / "failure").read_text()
    assert failure.startswith("ClientError: the checkpoint checkpoint-00001.pt")
    assert "num_topics=4 there, 5 here" in failure


def test_a_truncated_checkpoint_is_skipped(
        tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = localrun.make_tree(tmp_path / "ml", {**BASE_HPS, "epochs": "2"}, channels(corpus),
                              checkpoints=True)
    assert run(root, monkeypatch, capsys)[0] == 0
    (root / "checkpoints" / "checkpoint-00003.pt").write_bytes(b"cut short")
    localrun.make_tree(root, {**BASE_HPS, "epochs": "3"}, channels(corpus), checkpoints=True)
    code, log = run(root, monkeypatch, capsys)
    assert code == 0, log
    assert "checkpoint-00003.pt does not load" in log
    assert "continuing at epoch 3" in log


@pytest.mark.parametrize(("hps", "expected"), [
    ({"num_topics": None}, "num_topics: is required"),
    ({"learning_rate": "fast"}, "learning_rate: must be a number (got 'fast')"),
    ({"optimizer": "lbfgs"},
     "optimizer: must be one of sgd, adam, adagrad, adadelta, rmsprop (got 'lbfgs')"),
    ({"mini_batch_size": "0"}, "mini_batch_size: 0 is below the minimum 1"),
    ({"encoder_layers": "auto,5"},
     "encoder_layers: must be 'auto' or a comma-separated list of positive integers"),
    ({"not_a_knob": "1"}, "not_a_knob: is not a hyperparameter of this algorithm"),
])
def test_bad_hyperparameters_fail_cleanly(
        hps: dict[str, str | None], expected: str, tmp_path: Path, corpus: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    merged = {k: v for k, v in {**BASE_HPS, **hps}.items() if v is not None}
    root = localrun.make_tree(tmp_path / "ml", merged, channels(corpus))
    code, log = run(root, monkeypatch, capsys)
    assert code == 2
    failure = (root / "output" / "failure").read_text()
    assert failure.startswith("ClientError: invalid hyperparameters: ")
    assert expected in failure
    assert failure in log  # also on stderr
    assert not (root / "model" / "model.pt").exists()


@pytest.mark.parametrize(("content", "expected"), [
    ("1,2,3\n", "rows have 3 columns but feature_dim is 40"),
    ("a,b\n", "is not a CSV of numbers"),
    (",".join(["1"] * 39 + ["-1"]) + "\n", "row 1 holds a negative word count"),
    ("", "holds no data"),
])
def test_bad_data_fails_cleanly(content: str, expected: str, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "part.csv").write_text(content)
    root = localrun.make_tree(tmp_path / "ml", BASE_HPS, {"train": bad})
    code, _log = run(root, monkeypatch, capsys)
    assert code == 2
    failure = (root / "output" / "failure").read_text()
    assert failure.startswith("ClientError: channel 'train'")
    assert expected in failure


def test_missing_train_channel(tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    root = localrun.make_tree(tmp_path / "ml", BASE_HPS, {"validation": corpus / "validation"})
    code, _log = run(root, monkeypatch, capsys)
    assert code == 2
    assert (root / "output" / "failure").read_text() == (
        "ClientError: the 'train' channel is required (channels given: validation)")


def test_without_validation_the_training_loss_picks_the_model_and_batch_norm_trains(
        tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # 240 training documents in batches of 239: a last batch of one, which batch norm skips
    hps = {**BASE_HPS, "epochs": "3", "batch_norm": "true", "mini_batch_size": "239",
           "encoder_layers": "16", "encoder_layers_activation": "relu", "optimizer": "sgd",
           "clip_gradient": "1", "rescale_gradient": "0.5"}
    root = localrun.make_tree(tmp_path / "ml", hps, channels(corpus, ("train",)))
    code, log = run(root, monkeypatch, capsys)
    assert code == 0, log
    assert not any(name.startswith("validation") for name in scrape(log))
    summary = json.loads((root / "model" / "model.json").read_text())
    assert "best_train_total_loss" in summary and summary["config"]["batch_norm"] is True


def test_early_stopping_on_tolerance(tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    # a relative tolerance of 10%: after the first epochs nothing counts as an improvement
    hps = {**BASE_HPS, "epochs": "30", "tolerance": "0.1", "num_patience_epochs": "2"}
    root = localrun.make_tree(tmp_path / "ml", hps, channels(corpus))
    code, log = run(root, monkeypatch, capsys)
    assert code == 0, log
    summary = json.loads((root / "model" / "model.json").read_text())
    assert summary["stopped_by"] == "early_stopping" and summary["epochs_run"] < 30
    assert f"early stopping at epoch {summary['epochs_run']}" in log


def test_sigterm_saves_the_best_model_and_exits_zero(tmp_path: Path, corpus: Path) -> None:
    hps = {**BASE_HPS, "epochs": "100", "mini_batch_size": "1"}
    root = localrun.make_tree(tmp_path / "ml", hps, channels(corpus), checkpoints=True)
    proc = subprocess.Popen(localrun.command("ntm"), env=localrun.environment(root),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("epoch 2 done"):
            break
        assert time.monotonic() < deadline, "no second epoch in time"
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    log = "".join(lines) + rest
    assert proc.returncode == 0, log
    assert "SIGTERM received" in log
    summary = json.loads((root / "model" / "model.json").read_text())
    assert summary["stopped_by"] == "sigterm" and 2 <= summary["epochs_run"] < 100
    assert (root / "model" / "topic_word.npy").exists()
    assert not (root / "output" / "failure").exists()
    assert "test total_loss" not in log  # no final scoring on the way out


def _catches_sigterm(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_sigterm_before_training_starts_still_exits_zero_with_a_model(
    tmp_path: Path, corpus: Path
) -> None:
    # The entry point catches SIGTERM before importing torch: a stop right at the start ends
    # like any other stop (a model saved, exit 0), not with the default action (exit 143).
    root = localrun.make_tree(tmp_path / "ml", {**BASE_HPS, "epochs": "5"}, channels(corpus))
    proc = subprocess.Popen(localrun.command("ntm"), env=localrun.environment(root),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while not _catches_sigterm(proc.pid):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    log, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, log
    assert "SIGTERM received" in log
    summary = json.loads((root / "model" / "model.json").read_text())
    assert summary["stopped_by"] == "sigterm" and summary["epochs_run"] == 0
