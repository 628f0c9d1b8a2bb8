"""The validation cache gives what the service model gives, without botocore on a hit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.shapes import model as schema
from runner.shapes.model_cache import validate_request_cached


def training(name: str, **extra: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "x:1", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/x",
        "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1,
                           "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    request.update(extra)
    return request


@pytest.mark.parametrize("name", ["ok-name", "", "bad_name!", "x" * 64, "line\nbreak"])
@pytest.mark.parametrize("extra",
                         [{}, {"StoppingCondition": {"MaxRuntimeInSeconds": "soon"}}, {"Bogus": 1}])
def test_cached_and_uncached_agree(tmp_path: Path, name: str, extra: dict[str, Any]) -> None:
    request = training(name, **extra)
    expected = schema.validate_request(request, "CreateTrainingJob")
    assert validate_request_cached(request, "CreateTrainingJob", tmp_path) == expected  # a miss
    assert validate_request_cached(request, "CreateTrainingJob", tmp_path) == expected  # a hit
    assert len(list(tmp_path.iterdir())) == 1


def test_one_entry_serves_every_name(tmp_path: Path) -> None:
    validate_request_cached(training("first"), "CreateTrainingJob", tmp_path)
    validate_request_cached(training("second"), "CreateTrainingJob", tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    validate_request_cached(training("first", EnableNetworkIsolation=True), "CreateTrainingJob",
                            tmp_path)
    assert len(list(tmp_path.iterdir())) == 2


def test_a_hit_loads_neither_botocore_session_nor_model(tmp_path: Path) -> None:
    validate_request_cached(training("warm"), "CreateTrainingJob", tmp_path)
    code = (
        "import sys; from pathlib import Path; from runner.shapes.model_cache import "
        f"validate_request_cached\nr = {training('other')!r}\n"
        f"print(validate_request_cached(r, 'CreateTrainingJob', Path({str(tmp_path)!r})))\n"
        "print('botocore.session' in sys.modules or 'botocore.model' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[:2] == ["[]", "False"]


def test_a_broken_entry_is_recomputed(tmp_path: Path) -> None:
    validate_request_cached(training("a"), "CreateTrainingJob", tmp_path)
    entry = next(tmp_path.iterdir())
    entry.write_text("{not json")
    assert (validate_request_cached(training("bad_name!"), "CreateTrainingJob", tmp_path)
            == schema.validate_request(training("bad_name!"), "CreateTrainingJob"))


@pytest.mark.parametrize("mapping", [{1: "2", "a": "b"}, {None: "x", "B": "y"}])
def test_keys_of_mixed_types_are_validated_without_the_cache(
    tmp_path: Path, mapping: dict[Any, str]
) -> None:
    # json.dumps(sort_keys=True) cannot order 1 and "a": no key, so no entry, but the same verdict
    request = training("ok-name", HyperParameters=mapping)
    expected = schema.validate_request(request, "CreateTrainingJob")
    assert expected and all(p.path == "HyperParameters" for p in expected)
    assert validate_request_cached(request, "CreateTrainingJob", tmp_path) == expected
    assert list(tmp_path.iterdir()) == []
