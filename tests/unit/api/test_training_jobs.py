"""The training-job use cases of the service, on a real store (no engine needed here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner.api.errors import ResourceInUse, ResourceNotFound, ValidationException
from runner.api.training_jobs import TrainingJobs
from runner.core.specs import LocalOptions, Spec
from runner.shapes import status
from runner.store.jobs import Store


class NoEngine:
    """The engine is never reached by these use cases, but for the image check."""

    def image_exists(self, image: str) -> bool:
        return image == "smlocal/demo:latest"


def request(name: str, image: str = "smlocal/demo:latest") -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "file:///tmp/out"},
        "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }


@pytest.fixture
def jobs(tmp_path: Path) -> Any:
    store = Store(tmp_path / "home")
    notes: list[str] = []
    service = TrainingJobs(store, NoEngine(), aws=None, notify=notes.append)  # type: ignore[arg-type]
    service.notes = notes  # type: ignore[attr-defined]
    yield service
    store.close()


def record(jobs: TrainingJobs, name: str, created: float, final: str | None = None) -> None:
    rec = status.new_record(
        request(name), f"arn:aws:sagemaker:us-east-1:000000000000:training-job/{name}", created)
    if final is not None:
        status.advance(rec, final, created + 1)
    jobs.store.create_training_job(rec, request(name), LocalOptions().to_json(), None)


def test_create_refuses_bad_requests_with_field_paths(jobs: TrainingJobs, tmp_path: Path) -> None:
    bad = request("bad", image="nope/missing:1")
    bad["ResourceConfig"]["InstanceCount"] = 0
    with pytest.raises(ValidationException) as exc:
        jobs.create_training_job(Spec(request=bad, local=LocalOptions(), base_dir=tmp_path))
    paths = {p.path for p in exc.value.problems}
    assert ("ResourceConfig.InstanceCount" in paths
            and "AlgorithmSpecification.TrainingImage" in paths)


def test_create_refuses_a_name_in_use(jobs: TrainingJobs, tmp_path: Path) -> None:
    record(jobs, "taken", 1.0)
    with pytest.raises(ResourceInUse, match="Training job taken already exists"):
        jobs.create_training_job(Spec(request=request("taken"), local=LocalOptions(),
                                      base_dir=tmp_path))


def test_describe_and_list_as_aws_shapes_them(jobs: TrainingJobs) -> None:
    record(jobs, "old", 1.0, final="Completed")
    record(jobs, "new", 2.0)
    assert jobs.describe_training_job(TrainingJobName="old")["TrainingJobStatus"] == "Completed"
    with pytest.raises(ResourceNotFound, match="Could not find job nope"):
        jobs.describe_training_job(TrainingJobName="nope")
    listed = jobs.list_training_jobs()["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in listed] == ["new", "old"]  # newest first
    done = jobs.list_training_jobs(StatusEquals="Completed")["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in done] == ["old"]


def test_stop_refuses_an_ended_job_and_notes_the_request(jobs: TrainingJobs) -> None:
    record(jobs, "ended", 1.0, final="Completed")
    with pytest.raises(ValidationException, match="already ended as Completed"):
        jobs.stop_training_job(TrainingJobName="ended")
    with pytest.raises(ResourceNotFound):
        jobs.stop_training_job(TrainingJobName="nope")
