"""``smlocal doctor`` over the fake engine: a well-behaved image passes every clause, and one
that breaks them fails each, with the run it saw it in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner.api.doctor import DoctorOptions
from runner.api.doctor_clauses import FAIL, PASS, SKIP
from runner.api.errors import ValidationException
from runner.api.service import Service
from runner.core.specs import LocalOptions, Spec
from runner.engines.fake import FakeBackend, FakeContainer

GOOD, BAD = "doctor/good:1", "doctor/bad:1"
OPTIONS = DoctorOptions(budget=20, stop_after=0.4, grace=1.0)


def good(box: FakeContainer) -> int:
    """Fails (with a failure file) without data, resumes from its checkpoint, stops on
    SIGTERM, saves a model."""
    if not any(box.path("/opt/ml/input/data/train").iterdir()):
        (box.path("/opt/ml/output") / "failure").write_text("ValueError: no training data\n")
        return 1
    ckpt = box.path("/opt/ml/checkpoints") / "epoch.txt"
    start = int(ckpt.read_text()) if ckpt.exists() else 0
    box.print(f"starting at epoch {start}")
    for epoch in range(start + 1, start + 8):
        if box.sleep(0.1):
            return 143
        box.print(f"epoch={epoch} loss={1 / epoch:.4f}")
        ckpt.write_text(str(epoch))
    (box.path("/opt/ml/model") / "model.txt").write_text("m")
    return 0


def bad(box: FakeContainer) -> int:
    """Needs the network, writes no failure file, ignores SIGTERM, never reads its
    checkpoints, saves nothing."""
    if box.spec.network_isolation:
        box.print("urllib.error.URLError: Temporary failure in name resolution")
        return 1
    if not any(box.path("/opt/ml/input/data/train").iterdir()):
        return 2
    for epoch in range(1, 25):
        box.clock.sleep(0.1)  # SIGTERM or not
        box.print(f"epoch={epoch} loss={1 / epoch:.4f}")
        if any(m.target == "/opt/ml/checkpoints" for m in box.spec.mounts):
            (box.path("/opt/ml/checkpoints") / "epoch.txt").write_text(str(epoch))
    return 0


def request(tmp_path: Path, image: str, **extra: Any) -> dict[str, Any]:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    (data / "rows.csv").write_text("1\n")
    return {
        "TrainingJobName": "my-job",
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File",
                                   "MetricDefinitions": [{"Name": "loss", "Regex": "loss=(\\S+)"},
                                                         {"Name": "acc", "Regex": "acc=(\\S+)"},
                                                         {"Name": "any", "Regex": "(\\d*)"}]},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"file://{data}"}}}],
        "OutputDataConfig": {"S3OutputPath": "s3://never-used/out"},
        "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        **extra,
    }


@pytest.fixture
def service(tmp_path: Path) -> Service:
    engine = FakeBackend(tmp_path / "engine", {GOOD: good, BAD: bad})
    engine.image_architectures[BAD] = "arm64"
    return Service(tmp_path / "home", engine=lambda home: engine)


def verdicts(found: list[Any]) -> dict[str, str]:
    return {c.name: c.verdict for c in found}


def test_a_well_behaved_image_passes(tmp_path: Path, service: Service) -> None:
    spec = Spec(request(tmp_path, GOOD, CheckpointConfig={"S3Uri": "s3://never-used/ckpt"}),
                LocalOptions(), tmp_path)
    found = service.doctor(spec, OPTIONS)
    assert verdicts(found) == {
        "architecture matches the host": PASS, "entry point starts": PASS,
        "runs to completion": PASS, "/opt/ml/model is not empty": PASS,
        "metric loss": PASS, "metric acc": FAIL, "metric any": FAIL,
        "runs under EnableNetworkIsolation": PASS,
        "a failure writes /opt/ml/output/failure": PASS,
        "SIGTERM ends it within the grace period": PASS, "checkpoints are written": PASS,
        "a second run resumes from the checkpoints": PASS,
    }
    seen = {c.name: c for c in found}
    assert seen["metric loss"].seen == "7 value(s): 1, 0.5, 0.3333 ... 0.1429"
    assert "matched none of the" in seen["metric acc"].seen
    assert "matches the empty string" in seen["metric any"].seen
    assert seen["a failure writes /opt/ml/output/failure"].seen.endswith(
        "wrote: ValueError: no training data")
    assert seen["/opt/ml/model is not empty"].seen == "model.tar.gz holds model.txt"
    # each run is a job of the store, named after the request's; none wrote to its S3
    names = {r["TrainingJobName"] for r in service.store.list_training_jobs()}
    assert names == {f"my-job-doctor-{r}" for r in ("run", "isolated", "empty", "stop", "resume")}
    assert service.store.record("my-job-doctor-stop")["TrainingJobStatus"] == "Stopped"


def test_an_image_that_breaks_each_clause_fails_it(tmp_path: Path, service: Service) -> None:
    found = service.doctor(Spec(request(tmp_path, BAD), LocalOptions(), tmp_path), OPTIONS)
    seen = {c.name: c for c in found}
    assert verdicts(found) | {"metric loss": PASS} == {
        "architecture matches the host": FAIL, "entry point starts": PASS,
        "runs to completion": PASS, "/opt/ml/model is not empty": FAIL,
        "metric loss": PASS, "metric acc": FAIL, "metric any": FAIL,
        "runs under EnableNetworkIsolation": FAIL,
        "a failure writes /opt/ml/output/failure": FAIL,
        "SIGTERM ends it within the grace period": FAIL,
        "checkpoints are written": PASS,  # (not asked for: it writes them anyway)
        "a second run resumes from the checkpoints": FAIL,
    }
    assert seen["architecture matches the host"].seen == f"{BAD} is arm64; this machine is amd64"
    assert "Temporary failure in name resolution" in seen["runs under EnableNetworkIsolation"].seen
    assert seen["SIGTERM ends it within the grace period"].job == "my-job-doctor-stop"
    for clause in found:
        assert clause.verdict != FAIL or clause.fix


def test_an_entry_point_that_does_not_start_skips_the_rest(tmp_path: Path) -> None:
    def not_found(box: FakeContainer) -> int:
        box.print("/bin/sh: 1: exec: train: not found", "stderr")
        return 127

    service = Service(tmp_path / "home", engine=lambda home: FakeBackend(
        tmp_path / "engine", {"doctor/noentry:1": not_found}))
    found = service.doctor("doctor/noentry:1", OPTIONS)
    assert [(c.name, c.verdict) for c in found] == [
        ("architecture matches the host", PASS), ("entry point starts", FAIL),
        ("the other clauses", SKIP)]
    assert found[1].seen.startswith("train was not found (AlgorithmError: the container exited "
                                    "with code 127.")
    with pytest.raises(ValidationException, match="'doctor/missing:1' is not in the local"):
        service.doctor("doctor/missing:1", OPTIONS)
