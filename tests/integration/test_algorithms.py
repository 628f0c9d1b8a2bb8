"""The built-in algorithms' images (smlocal/ntm, smlocal/mlp) through `smlocal train`, as users
run them: separate processes, a store of the test's own (`--home`), tiny data.

Needs the torch base image (`containers/torch/wheels.sh`, then
`.venv/bin/smlocal build containers/torch -t smlocal/torch:2.13.0`); skipped without it.
The algorithm images are built (or found current) from algorithms/ once per session."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

sys.dont_write_bytecode = True  # keep __pycache__ out of algorithms/ (an image build context)

from algorithms.ntm.make_data import write_corpus  # noqa: E402

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ALGORITHMS = REPO / "algorithms"
TORCH_BASE = "smlocal/torch:2.13.0"


def smlocal(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(home),
                           *args],
                          capture_output=True, text=True, timeout=timeout, check=False, cwd=REPO,
                          env=env)


def manifest(name: str) -> dict[str, Any]:
    return dict(json.loads((ALGORITHMS / name / "manifest.json").read_text()))


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> None:
    if (subprocess.run(["docker", "image", "inspect", TORCH_BASE], capture_output=True,
                       check=False).returncode != 0):
        pytest.skip(f"{TORCH_BASE} is missing: run containers/torch/wheels.sh and "
                    f".venv/bin/smlocal build containers/torch -t {TORCH_BASE}")
    home = tmp_path_factory.mktemp("build-home")
    for name in ("ntm", "mlp"):
        result = smlocal(home, "build", str(ALGORITHMS), "-f", f"{name}/Dockerfile", "-t",
                         manifest(name)["TrainingImage"], timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr


def request(tmp_path: Path, algorithm: str, name: str, hyperparameters: dict[str, str],
            channels: dict[str, Path], **extra: Any) -> Path:
    m = manifest(algorithm)
    doc: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": m["TrainingImage"], "TrainingInputMode": "File",
                                   "MetricDefinitions": m["MetricDefinitions"]},
        "HyperParameters": hyperparameters,
        "InputDataConfig": [
            {"ChannelName": ch, "ContentType": "text/csv",
             "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"file://{path}",
                                             "S3DataDistributionType": "FullyReplicated"}}}
            for ch, path in channels.items()
        ],
        "OutputDataConfig": {"S3OutputPath": f"file://{tmp_path}/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
        **extra,
    }
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(yaml.safe_dump({**doc, "Local": {"StopGracePeriodSeconds": 30}}))
    return spec


def describe(home: Path, name: str) -> dict[str, Any]:
    result = smlocal(home, "describe", name)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def final_metrics(described: dict[str, Any]) -> dict[str, float]:
    return {m["MetricName"]: m["Value"] for m in described.get("FinalMetricDataList", [])}


def model_files(tmp_path: Path, name: str) -> dict[str, bytes]:
    with tarfile.open(tmp_path / "out" / name / "output" / "model.tar.gz") as tar:
        return {Path(m.name).name: tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers() if m.isfile()}


def no_containers_left(name: str) -> None:
    left = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=smlocal.job={name}"],
                          capture_output=True, text=True, check=False).stdout.split()
    assert not left, f"containers left behind by {name}: {left}"


@pytest.fixture(scope="module")
def ntm_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ntm-data")
    write_corpus(out, num_topics=4, vocab_size=40, num_docs=400, doc_length=40, seed=3)
    return out


@pytest.fixture(scope="module")
def mlp_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mlp-data")
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0, 0], [4, 0, 0], [0, 4, 0]], dtype=float)
    for name, n in (("train", 240), ("validation", 60), ("test", 60)):
        labels = rng.integers(0, 3, size=n)
        rows = np.column_stack([labels, centres[labels] + rng.standard_normal((n, 3))])
        (out / name).mkdir()
        np.savetxt(out / name / "data.csv", rows, delimiter=",", fmt="%.5f")
    return out


NTM_HPS = {"feature_dim": "40", "num_topics": "4", "epochs": "10", "optimizer": "adam",
           "learning_rate": "0.05", "mini_batch_size": "32", "seed": "1"}


def test_ntm_job_completes_with_the_objective(tmp_path: Path, images: None, ntm_data: Path) -> None:
    home = tmp_path / "home"
    chans = {ch: ntm_data / ch for ch in ("train", "validation", "test")}
    spec = request(tmp_path, "ntm", "it-ntm", NTM_HPS, chans)
    result = smlocal(home, "train", str(spec))
    assert result.returncode == 0, result.stdout + result.stderr
    described = describe(home, "it-ntm")
    assert described["TrainingJobStatus"] == "Completed"
    metrics = final_metrics(described)
    objective = manifest("ntm")["TuningObjective"]["MetricName"]
    assert objective in metrics
    assert ({"train:total_loss", "validation:recons_loss", "validation:kl_loss", "test:total_loss"}
            <= set(metrics))
    assert metrics["validation:total_loss"] == pytest.approx(
        metrics["validation:recons_loss"] + metrics["validation:kl_loss"], abs=1e-3)
    files = model_files(tmp_path, "it-ntm")
    assert {"model.pt", "topic_word.npy", "model.json"} <= set(files)
    topic_word = np.load(io.BytesIO(files["topic_word.npy"]))
    assert topic_word.shape == (4, 40)
    recovery = subprocess.run([sys.executable, str(ALGORITHMS / "ntm" / "topics.py"),
                               str(tmp_path / "out" / "it-ntm" / "output" / "model.tar.gz"),
                               str(ntm_data / "truth" / "topic_word.npy")],
                              capture_output=True, text=True, check=False,
                              env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert recovery.returncode == 0 and "topic_recovery_cosine=" in recovery.stdout
    no_containers_left("it-ntm")


def test_mlp_job_completes_with_the_objective(tmp_path: Path, images: None, mlp_data: Path) -> None:
    home = tmp_path / "home"
    chans = {ch: mlp_data / ch for ch in ("train", "validation", "test")}
    hps = {"num_classes": "3", "hidden_units": "16", "epochs": "8", "learning_rate": "0.01",
           "seed": "1", "early_stopping_patience": "3"}
    spec = request(tmp_path, "mlp", "it-mlp", hps, chans)
    result = smlocal(home, "train", str(spec))
    assert result.returncode == 0, result.stdout + result.stderr
    described = describe(home, "it-mlp")
    assert described["TrainingJobStatus"] == "Completed"
    metrics = final_metrics(described)
    assert manifest("mlp")["TuningObjective"]["MetricName"] in metrics
    assert metrics["validation:accuracy"] > 0.9 and metrics["test:accuracy"] > 0.9
    assert {"model.pt", "model.json"} <= set(model_files(tmp_path, "it-mlp"))
    no_containers_left("it-mlp")


def test_a_spot_interruption_rehearsed_on_the_mlp_continues_its_epochs(
    tmp_path: Path, images: None, mlp_data: Path
) -> None:
    """SIGTERM, the grace, the checkpoints kept, the container gone; then the job on fresh
    volumes from its checkpoints, as SageMaker restarts an interrupted spot job."""
    home = tmp_path / "home"
    chans = {ch: mlp_data / ch for ch in ("train", "validation")}
    hps = {"num_classes": "3", "hidden_units": "64", "epochs": "2500", "learning_rate": "0.001",
           "seed": "1", "early_stopping_patience": "0"}
    spec = request(tmp_path, "mlp", "it-mlp-spot", hps, chans, EnableManagedSpotTraining=True,
                   CheckpointConfig={"S3Uri": f"file://{tmp_path}/ckpt"})
    result = smlocal(home, "train", str(spec), "--interrupt-after", "4")
    assert result.returncode == 0, result.stdout + result.stderr
    described = describe(home, "it-mlp-spot")
    assert [t["Status"] for t in described["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Interrupted", "Restarting", "Training",
        "Uploading", "Completed"]
    before, _, after = result.stdout.partition("continuing at epoch ")
    resumed_at = int(after.split()[0].rstrip(",:."))
    assert resumed_at > 1 and f"epoch={resumed_at - 1}, validation" in before  # none lost
    assert "epoch=1," not in after and "epoch=2500, validation" in after
    assert described["BillableTimeInSeconds"] <= described["TrainingTimeInSeconds"]
    no_containers_left("it-mlp-spot")


def test_the_doctor_finds_the_mlp_keeps_the_contract(
    tmp_path: Path, images: None, mlp_data: Path
) -> None:
    """Every clause passes: SIGTERM handled as PID 1, a failure file on missing data, its
    checkpoints written and read back by a second run, its metric regexes matching."""
    home = tmp_path / "home"
    chans = {ch: mlp_data / ch for ch in ("train", "validation", "test")}
    hps = {"num_classes": "3", "hidden_units": "64", "epochs": "500", "learning_rate": "0.001",
           "seed": "1", "early_stopping_patience": "0"}
    spec = request(tmp_path, "mlp", "it-mlp-doctor", hps, chans,
                   CheckpointConfig={"S3Uri": f"file://{tmp_path}/ckpt"})
    result = smlocal(home, "doctor", str(spec), "--stop-after", "3", "--grace", "30",
                     "--budget", "120", "--output", "json")
    clauses = {c["name"]: c for c in json.loads(result.stdout)["Clauses"]}
    assert result.returncode == 0, [c for c in clauses.values() if c["verdict"] != "pass"]
    assert {c["verdict"] for c in clauses.values()} == {"pass"}
    assert len(clauses) == 9 + len(manifest("mlp")["MetricDefinitions"])  # one line a metric


def test_a_rehearsal_of_the_mlp_search_space(tmp_path: Path, images: None, mlp_data: Path) -> None:
    definition = yaml.safe_load(request(tmp_path, "mlp", "unused", {
        "num_classes": "3", "hidden_units": "16", "epochs": "5", "seed": "1"},
        {ch: mlp_data / ch for ch in ("train", "validation")}).read_text())
    del definition["TrainingJobName"]
    local = definition.pop("Local")
    definition["StaticHyperParameters"] = definition.pop("HyperParameters")
    tuning = {
        "HyperParameterTuningJobName": "it-mlp-rehearse",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Maximize",
                                                 "MetricName": "validation:accuracy"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 8, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "learning_rate", "MinValue": "0.0001", "MaxValue": "0.1",
                     "ScalingType": "Logarithmic"},
                    {"Name": "dropout", "MinValue": "0.0", "MaxValue": "0.5"}],
                "CategoricalParameterRanges": [{"Name": "batch_norm",
                                                "Values": ["true", "false"]}]}},
        "TrainingJobDefinition": definition,
        "Local": local,
    }
    spec = tmp_path / "rehearse.yaml"
    spec.write_text(yaml.safe_dump(tuning))
    result = smlocal(tmp_path / "home", "tune", str(spec), "--rehearse",
                     "--rehearse-seconds", "60")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = result.stdout.splitlines()[1:]
    assert [row.split()[:2] for row in rows] == [["it-mlp-rehearse-rehearse-01", "ok"],
                                                 ["it-mlp-rehearse-rehearse-02", "ok"]]
    assert "learning_rate=0.0001" in rows[0] and "learning_rate=0.1" in rows[1]


def test_bad_hyperparameters_are_refused_before_any_container(
    tmp_path: Path, images: None, ntm_data: Path
) -> None:
    home = tmp_path / "home"
    hps = {k: v for k, v in NTM_HPS.items() if k != "num_topics"}
    spec = request(tmp_path, "ntm", "it-ntm-refused", {**hps, "optimizer": "lbfgs"},
                   {"train": ntm_data / "train"})
    result = smlocal(home, "train", str(spec))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "HyperParameters.num_topics: is required",
        "HyperParameters.optimizer: must be one of sgd, adam, adagrad, adadelta, rmsprop "
        "(got 'lbfgs')",
    ]
    assert smlocal(home, "describe", "it-ntm-refused").returncode == 2  # no job was created


def test_bad_hyperparameters_fail_the_job_with_a_client_error(
    tmp_path: Path, images: None, ntm_data: Path
) -> None:
    """The same image under a name smlocal does not know as a built-in: the container's own
    check (the same code) fails the job, as SageMaker's built-ins do."""
    home = tmp_path / "home"
    alias = "smlocal-test/ntm-alias:latest"
    subprocess.run(["docker", "tag", "smlocal/ntm:latest", alias], check=True)
    try:
        hps = {k: v for k, v in NTM_HPS.items() if k != "num_topics"}
        spec = request(tmp_path, "ntm", "it-ntm-bad", {**hps, "optimizer": "lbfgs"},
                       {"train": ntm_data / "train"})
        doc = yaml.safe_load(spec.read_text())
        doc["AlgorithmSpecification"]["TrainingImage"] = alias
        spec.write_text(yaml.safe_dump(doc))
        result = smlocal(home, "train", str(spec))
    finally:
        subprocess.run(["docker", "rmi", alias], check=False, capture_output=True)
    assert result.returncode == 1
    described = describe(home, "it-ntm-bad")
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"] == (
        "ClientError: invalid hyperparameters: num_topics: is required; "
        "optimizer: must be one of sgd, adam, adagrad, adadelta, rmsprop (got 'lbfgs')")
    no_containers_left("it-ntm-bad")


def test_checkpoints_carry_a_job_on_into_the_next(
    tmp_path: Path, images: None, ntm_data: Path
) -> None:
    home = tmp_path / "home"
    chans = {ch: ntm_data / ch for ch in ("train", "validation")}
    ckpt = {"CheckpointConfig": {"S3Uri": f"file://{tmp_path}/ckpt"}}
    first = request(tmp_path, "ntm", "it-ntm-ckpt-1", {**NTM_HPS, "epochs": "3"}, chans, **ckpt)
    assert smlocal(home, "train", str(first)).returncode == 0
    assert (sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["checkpoint-00002.pt",
                                                                      "checkpoint-00003.pt"])
    second = request(tmp_path, "ntm", "it-ntm-ckpt-2", {**NTM_HPS, "epochs": "5"}, chans, **ckpt)
    result = smlocal(home, "train", str(second))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "continuing at epoch 4" in result.stdout
    assert "epoch=1," not in result.stdout and "epoch=5, validation total_loss" in result.stdout
    assert describe(home, "it-ntm-ckpt-2")["TrainingJobStatus"] == "Completed"


def test_stop_saves_the_best_model_and_ends_stopped(
    tmp_path: Path, images: None, ntm_data: Path
) -> None:
    home = tmp_path / "home"
    hps = {**NTM_HPS, "epochs": "100", "mini_batch_size": "1", "num_patience_epochs": "100"}
    spec = request(tmp_path, "ntm", "it-ntm-stop", hps, {"train": ntm_data / "train"})
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "runner.interfaces.cli.main", "--home",
                             str(home), "train", str(spec), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env=env)
    try:
        deadline = time.monotonic() + 120
        while "epoch 1 done" not in smlocal(home, "logs", "it-ntm-stop").stdout:
            assert time.monotonic() < deadline, "the job never finished an epoch"
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.3)
        started = time.monotonic()
        assert smlocal(home, "stop", "it-ntm-stop").returncode == 0
        proc.communicate(timeout=120)
        assert time.monotonic() - started < 25  # the algorithm handled SIGTERM: no wait for SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    described = describe(home, "it-ntm-stop")
    assert described["TrainingJobStatus"] == "Stopped"
    assert "FailureReason" not in described
    summary = json.loads(model_files(tmp_path, "it-ntm-stop")["model.json"])
    assert summary["stopped_by"] == "sigterm" and 1 <= summary["epochs_run"] < 100
    no_containers_left("it-ntm-stop")
