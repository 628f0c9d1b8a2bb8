"""``smlocal doctor`` on real images: ours (the probe), one built on AWS's training toolkit,
one that breaks a clause each, and one of another architecture; each verdict is checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.engines.docker.backend import DockerBackend
from runner.engines.docker.images import ensure_image
from tests.integration.conftest import PROBE, TOOLKIT

IMAGES = Path(__file__).parent / "doctor_images"
BROKEN, FOREIGN = "smlocal-test/doctor-broken:latest", "smlocal-test/doctor-foreign:latest"


def doctor(home: Path, target: str, *args: str) -> tuple[int, dict[str, dict[str, Any]], str]:
    done = subprocess.run(
        [sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(home), "doctor",
         target, "--output", "json", *args],
        capture_output=True, text=True, timeout=600, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    found = json.loads(done.stdout) if done.stdout else {"Clauses": []}
    return done.returncode, {c["name"]: c for c in found["Clauses"]}, done.stderr


def verdicts(found: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {name: c["verdict"] for name, c in found.items()}


def spec_file(tmp_path: Path, image: str, hps: dict[str, str], **extra: Any) -> str:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "rows.csv").write_text("1,2\n")
    request = {
        "TrainingJobName": "doc",
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "HyperParameters": hps,
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"file://{data}"}}}],
        "OutputDataConfig": {"S3OutputPath": f"file://{tmp_path}/out"},
        "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        **extra,
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(request))
    return str(path)


@pytest.fixture(scope="module")
def test_images(docker_client: Any) -> Any:
    backend = DockerBackend(Path("."), docker_client)
    ensure_image(backend, IMAGES / "broken", BROKEN)
    # FROM scratch with nothing to run: builds for any platform without emulation
    docker_client.images.build(path=str(IMAGES / "foreign"), tag=FOREIGN, rm=True,
                               platform="linux/arm64" if backend.architectures(PROBE)[0]
                               != "arm64" else "linux/amd64")
    yield
    for tag in (BROKEN, FOREIGN):
        docker_client.images.remove(tag, force=True)


def test_the_probe_passes(tmp_path: Path) -> None:
    code, found, _ = doctor(tmp_path / "home", PROBE)
    assert code == 0
    assert verdicts(found) == {
        "architecture matches the host": "pass", "entry point starts": "pass",
        "runs to completion": "pass", "/opt/ml/model is not empty": "pass",
        "metric definitions match": "skip", "runs under EnableNetworkIsolation": "pass",
        "a failure writes /opt/ml/output/failure": "skip",  # no channels to take away
        "SIGTERM ends it within the grace period": "skip",  # it ends at once
        "checkpoints are written": "skip", "a second run resumes from the checkpoints": "skip",
    }
    assert found["/opt/ml/model is not empty"]["seen"] == "model.tar.gz holds model.txt, probe.json"


def test_a_probe_that_checkpoints_on_sigterm_but_never_resumes(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, PROBE, {"mode": "sleep", "seconds": "4"},
                     CheckpointConfig={"S3Uri": "s3://never/used"})
    code, found, _ = doctor(tmp_path / "home", spec, "--stop-after", "1", "--grace", "5")
    assert code == 1
    assert {k: found[k]["verdict"] for k in (
        "SIGTERM ends it within the grace period", "checkpoints are written",
        "a second run resumes from the checkpoints", "a failure writes /opt/ml/output/failure",
    )} == {"SIGTERM ends it within the grace period": "pass", "checkpoints are written": "pass",
           "a second run resumes from the checkpoints": "fail",
           "a failure writes /opt/ml/output/failure": "skip"}
    assert found["checkpoints are written"]["seen"].endswith("(terminated.txt)")


def test_the_toolkits_train_keeps_sigterm_from_the_users_script(tmp_path: Path) -> None:
    """sagemaker-training-toolkit#125: its ``train`` runs the user's script as a child and
    passes no SIGTERM on; as PID 1 (as on SageMaker) it ignores it, and is SIGKILLed."""
    spec = spec_file(tmp_path, TOOLKIT, {"sleep": "30"})
    code, found, _ = doctor(tmp_path / "home", spec, "--stop-after", "2", "--grace", "4",
                            "--budget", "40")
    clause = found["SIGTERM ends it within the grace period"]
    assert code == 1 and clause["verdict"] == "fail", clause
    assert found["entry point starts"]["verdict"] == "pass"


def test_an_image_that_breaks_the_clauses(tmp_path: Path, test_images: Any) -> None:
    spec = spec_file(tmp_path, BROKEN, {}, CheckpointConfig={"S3Uri": "s3://never/used"},
                     AlgorithmSpecification={
                         "TrainingImage": BROKEN, "TrainingInputMode": "File",
                         "MetricDefinitions": [{"Name": "loss", "Regex": r"loss=(\S+)"}]})
    code, found, _ = doctor(tmp_path / "home", spec, "--stop-after", "1", "--grace", "3")
    assert code == 1
    assert verdicts(found) == {
        "architecture matches the host": "pass", "entry point starts": "pass",
        "runs to completion": "pass", "/opt/ml/model is not empty": "fail",
        "metric loss": "pass", "runs under EnableNetworkIsolation": "fail",
        "a failure writes /opt/ml/output/failure": "fail",
        "SIGTERM ends it within the grace period": "fail", "checkpoints are written": "pass",
        "a second run resumes from the checkpoints": "fail",
    }
    assert "Network is unreachable" in found["runs under EnableNetworkIsolation"]["seen"]


def test_an_image_of_another_architecture(tmp_path: Path, test_images: Any) -> None:
    code, found, _ = doctor(tmp_path / "home", FOREIGN)
    assert code == 1
    assert verdicts(found) == {"architecture matches the host": "fail",
                               "entry point starts": "fail", "the other clauses": "skip"}
