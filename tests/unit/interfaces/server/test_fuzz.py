"""The fuzzed requests the CLI refuses (tests/unit/api/test_fuzz_requests.py's generator: the
example requests with fields deleted, duplicated, or given odd values), sent through the
server as boto3 would send them: every answer is AWS's error shape, never a 500 or a
traceback, and no job is left behind."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest

from runner.core.specs import LOCAL_KEY
from tests.unit.api.test_fuzz_requests import _mutate_data, examples
from tests.unit.interfaces.server.conftest import post

CASES = 120


def test_fuzzed_requests_get_aws_errors(endpoint: str, tmp_path: Path) -> None:
    answers: dict[str, int] = {}
    for index in range(CASES):
        rng = random.Random(f"server:{index}")
        _, request = rng.choice(examples())
        request = copy.deepcopy(request)
        request.pop(LOCAL_KEY, None)  # not part of AWS's shapes: boto3 never sends it
        for _ in range(rng.randint(1, 3)):
            _mutate_data(rng, request)
        target = ("SageMaker.CreateHyperParameterTuningJob"
                  if "HyperParameterTuningJobConfig" in str(request)
                  else "SageMaker.CreateTrainingJob")
        body = json.dumps(request, default=str).encode("utf-8", "surrogatepass")
        status, answer = post(endpoint, target, body)
        # (the examples' images are not in the fake engine)
        assert status == 400, (index, status, answer)
        assert answer["__type"] in ("ValidationException",
                                    "SerializationException"), (index, answer)
        assert "Traceback" not in answer["message"] and answer["message"], (index, answer)
        answers[answer["__type"]] = answers.get(answer["__type"], 0) + 1
    assert answers.get("ValidationException", 0) > CASES // 2
    status, listed = post(endpoint, "SageMaker.ListTrainingJobs", b"{}")
    assert status == 200 and listed["TrainingJobSummaries"] == []  # nothing was created


@pytest.mark.parametrize(("body", "code"), [
    (b'{"TrainingJobName": "\\ud800"}', "ValidationException"),  # a lone surrogate
    (b'{"TrainingJobName": NaN}', "ValidationException"),
    (b'{"TrainingJobName": "x", "TrainingJobName": "y"}', "ResourceNotFound"),  # the last one
    (b'{"a": ' * 5000 + b"1" + b"}" * 5000, "SerializationException"),  # deeper than the parser
    (b"\xff\xfe", "SerializationException"),
])
def test_odd_bodies_get_aws_errors(endpoint: str, body: bytes, code: str) -> None:
    status, answer = post(endpoint, "SageMaker.DescribeTrainingJob", body)
    assert (status, answer["__type"]) == (400, code), answer
