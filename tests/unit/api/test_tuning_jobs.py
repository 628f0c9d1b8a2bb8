"""The tuning-job use cases of the service: their refusals, on a real store (no engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner.api.errors import ResourceNotFound, ValidationException
from runner.api.tuning_jobs import TuningJobs
from runner.core.specs import LocalOptions, Spec
from runner.store.jobs import Store


class NoEngine:
    def image_exists(self, image: str) -> bool:
        return False


@pytest.fixture
def jobs(tmp_path: Path) -> Any:
    store = Store(tmp_path / "home")
    yield TuningJobs(store, NoEngine())  # type: ignore[arg-type]
    store.close()


def test_unknown_tuning_jobs_are_not_found(jobs: TuningJobs) -> None:
    for call in (
        lambda: jobs.describe_hyper_parameter_tuning_job("nope"),
        lambda: jobs.list_training_jobs_for_hyper_parameter_tuning_job("nope"),
        lambda: jobs.stop_hyper_parameter_tuning_job("nope", lambda kind, data: None),
        lambda: jobs.stored_spec("nope"),
    ):
        with pytest.raises(ResourceNotFound, match="Could not find job nope"):
            call()


def test_create_refuses_a_bad_request_with_field_paths(jobs: TuningJobs, tmp_path: Path) -> None:
    request = {"HyperParameterTuningJobName": "t",
               "HyperParameterTuningJobConfig": {"Strategy": "Sideways"}}
    with pytest.raises(ValidationException) as exc:
        jobs.create_hyper_parameter_tuning_job(Spec(request=request, local=LocalOptions(),
                                                    base_dir=tmp_path),
                                               lambda kind, data: None)
    assert any(p.path.startswith("HyperParameterTuningJobConfig") for p in exc.value.problems)
