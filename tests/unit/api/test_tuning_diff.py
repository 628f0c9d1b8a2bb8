"""``smlocal diff A B`` of two tuning jobs (runner.api.tuning_diff), on hand-written
DescribeHyperParameterTuningJob and ListTrainingJobsForHyperParameterTuningJob answers: what
is compared (status, status counters, best objective, each configuration both jobs tried) and
what is only shown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from runner.api.job_diff import JobDiff, Row
from runner.api.tuning_diff import diff_tuning_jobs
from runner.shapes.training_jobs import PLACE_KEY
from tests.unit.api.test_job_diff import disagreeing, row

PLACE = {"Backend": "sagemaker", "Region": "eu-west-1",
         "EndpointUrl": "https://api.sagemaker.eu-west-1.amazonaws.com"}
T0 = 1_714_564_800.0
TOLERANCE = 0.01
# each configuration tried (its tuned values) and its final objective
TRIED = [({"lr": "0.1", "optimizer": "adam"}, 0.50),
         ({"lr": "0.01", "optimizer": "adam"}, 0.40),
         ({"lr": "0.01", "optimizer": "sgd"}, 0.70)]


def described(name: str, status: str = "Completed", best: float | None = 0.40,
              counters: dict[str, int] | None = None,
              runtime: int | None = 600) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:123456789012:"
                                      f"hyper-parameter-tuning-job/{name}",
        "HyperParameterTuningJobStatus": status,
        "CreationTime": T0, "LastModifiedTime": T0 + 600,
        "TrainingJobStatusCounters": counters if counters is not None else {
            "Completed": 3, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0,
            "Stopped": 0},
        "ObjectiveStatusCounters": {"Succeeded": 3, "Pending": 0, "Failed": 0},
    }
    if best is not None:
        answer["BestTrainingJob"] = {
            "TrainingJobName": f"{name}-002-abcdef01",
            "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "validation:loss",
                                                            "Value": best}}
    if runtime is not None:
        answer["ConsumedResources"] = {"RuntimeInSeconds": runtime}
    return answer


def summaries(name: str, tried: Sequence[tuple[dict[str, str], float | None]] = TRIED,
              ) -> list[dict[str, Any]]:
    out = []
    for number, (tuned, value) in enumerate(tried, 1):
        summary: dict[str, Any] = {
            "TrainingJobName": f"{name}-{number:03d}-0000000{number}",
            "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/"
                              f"{name}-{number:03d}",
            "CreationTime": T0 + 100 * number,
            "TrainingJobStatus": "Completed" if value is not None else "Failed",
            "TunedHyperParameters": dict(tuned),
        }
        if value is not None:
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "MetricName": "validation:loss", "Value": value}
        out.append(summary)
    return out


def tuning_request(name: str, **config: Any) -> dict[str, Any]:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Minimize",
                                                 "MetricName": "validation:loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 1},
            **config,
        },
        "TrainingJobDefinition": {"AlgorithmSpecification": {"TrainingImage": "demo:1",
                                                             "TrainingInputMode": "File"}},
    }


def record(answer: dict[str, Any], place: dict[str, str] | None = None) -> dict[str, Any]:
    return {**answer, PLACE_KEY: place} if place is not None else dict(answer)


def diff(a: dict[str, Any] | None = None, b: dict[str, Any] | None = None,
         sa: list[dict[str, Any]] | None = None, sb: list[dict[str, Any]] | None = None,
         ra: dict[str, Any] | None = None, rb: dict[str, Any] | None = None,
         tolerance: float = TOLERANCE) -> JobDiff:
    """``here`` (run locally) against ``there`` (the same request on SageMaker)."""
    da = a if a is not None else described("here")
    db = b if b is not None else described("there", runtime=1200)
    return diff_tuning_jobs(
        "here", "there", (da, db),
        (sa if sa is not None else summaries("here"),
         sb if sb is not None else summaries("there")),
        (ra if ra is not None else tuning_request("here"),
         rb if rb is not None else tuning_request("there")),
        (record(da), record(db, PLACE)), tolerance)


# -- agreeing ------------------------------------------------------------------------------
def test_two_runs_of_one_tuning_request_agree() -> None:
    result = diff()
    assert result.agree and disagreeing(result) == []
    assert (result.a, result.b) == ("here", "there")
    assert row(result, "where") == Row(
        "where", "here", "SageMaker (eu-west-1, https://api.sagemaker.eu-west-1.amazonaws.com)")
    assert row(result, "HyperParameterTuningJobStatus") == Row(
        "HyperParameterTuningJobStatus", "Completed", "Completed", True)
    assert row(result, "TrainingJobStatusCounters") == Row(
        "TrainingJobStatusCounters", "Completed 3", "Completed 3", True)
    best = row(result, "best objective")
    assert (best.a, best.b, best.agrees) == ("0.4", "0.4 (0.00% apart)", True)
    trials = [r for r in result.rows if r.field.startswith("trial ")]
    assert [(r.field, r.a, r.agrees) for r in trials] == [
        ("trial lr=0.01 optimizer=adam", "0.4", True),
        ("trial lr=0.01 optimizer=sgd", "0.7", True),
        ("trial lr=0.1 optimizer=adam", "0.5", True),
    ]
    assert row(result, "RuntimeInSeconds") == Row("RuntimeInSeconds", "600", "1200")
    # the names differ and are never listed; nor is any request difference here
    assert not any(r.field.startswith("request ") for r in result.rows)
    assert result.to_json()["Agree"] is True


def test_configurations_are_matched_whatever_the_listing_order() -> None:
    result = diff(sb=list(reversed(summaries("there"))))
    assert result.agree
    assert len([r for r in result.rows if r.field.startswith("trial ")]) == 3


def test_objectives_within_the_tolerance_agree() -> None:
    tried = [(tuned, value * 1.005 if value is not None else None) for tuned, value in TRIED]
    result = diff(sb=summaries("there", tried), b=described("there", best=0.402))
    assert result.agree
    assert row(result, "trial lr=0.1 optimizer=adam").b == "0.5025 (0.50% apart)"
    assert row(result, "best objective").b == "0.402 (0.50% apart)"


# -- disagreeing ---------------------------------------------------------------------------
def test_a_configurations_objective_past_the_tolerance_disagrees() -> None:
    tried = [TRIED[0], (TRIED[1][0], 0.45), TRIED[2]]
    result = diff(sb=summaries("there", tried))
    assert not result.agree
    assert disagreeing(result) == ["trial lr=0.01 optimizer=adam"]
    trial = row(result, "trial lr=0.01 optimizer=adam")
    assert (trial.a, trial.b) == ("0.4", "0.45 (11.11% apart)")
    # a looser tolerance lets it agree
    assert diff(sb=summaries("there", tried), tolerance=0.12).agree


def test_a_configuration_without_an_objective_in_one_job_disagrees() -> None:
    tried = [TRIED[0], (TRIED[1][0], None), TRIED[2]]
    result = diff(sb=summaries("there", tried))
    assert disagreeing(result) == ["trial lr=0.01 optimizer=adam"]
    assert row(result, "trial lr=0.01 optimizer=adam") == Row(
        "trial lr=0.01 optimizer=adam", "0.4", "-", False)


def test_a_configuration_failed_in_both_agrees() -> None:
    tried = [TRIED[0], (TRIED[1][0], None), TRIED[2]]
    result = diff(sa=summaries("here", tried), sb=summaries("there", tried))
    assert result.agree
    assert row(result, "trial lr=0.01 optimizer=adam") == Row(
        "trial lr=0.01 optimizer=adam", "-", "-", True)


def test_a_configuration_tried_by_one_job_only_is_shown_not_compared() -> None:
    there = [TRIED[0], TRIED[1], ({"lr": "0.001", "optimizer": "sgd"}, 9.0)]
    result = diff(sb=summaries("there", there))
    assert result.agree and disagreeing(result) == []
    assert row(result, "trial lr=0.001 optimizer=sgd") == Row(
        "trial lr=0.001 optimizer=sgd", "not tried", "9")
    assert row(result, "trial lr=0.01 optimizer=sgd") == Row(
        "trial lr=0.01 optimizer=sgd", "0.7", "not tried")
    assert row(result, "trial lr=0.1 optimizer=adam").agrees is True


@pytest.mark.parametrize("best_a, best_b, agrees, shown", [
    (0.40, 0.50, False, ("0.4", "0.5 (20.00% apart)")),
    (0.40, 0.4039, True, ("0.4", "0.4039 (0.97% apart)")),
    (0.40, None, False, ("0.4", "-")),
    (None, 0.40, False, ("-", "0.4")),
])
def test_the_best_objective_is_compared(best_a: float | None, best_b: float | None,
                                        agrees: bool, shown: tuple[str, str]) -> None:
    result = diff(a=described("here", best=best_a), b=described("there", best=best_b))
    best = row(result, "best objective")
    assert ((best.a, best.b), best.agrees) == (shown, agrees)
    assert result.agree is agrees


def test_no_best_objective_in_either_job_has_no_row() -> None:
    result = diff(a=described("here", best=None), b=described("there", best=None))
    assert result.agree and not any(r.field == "best objective" for r in result.rows)


def test_the_status_is_compared() -> None:
    result = diff(b=described("there", status="Stopped"))
    assert disagreeing(result) == ["HyperParameterTuningJobStatus"]
    assert row(result, "HyperParameterTuningJobStatus") == Row(
        "HyperParameterTuningJobStatus", "Completed", "Stopped", False)


@pytest.mark.parametrize("counters_b, agrees, shown", [
    ({"Completed": 3}, True, "Completed 3"),  # zeros are no difference
    ({"Completed": 2, "NonRetryableError": 1}, False, "Completed 2, NonRetryableError 1"),
    ({"Completed": 4, "InProgress": 0}, False, "Completed 4"),
    ({}, False, "none"),
])
def test_the_status_counters_are_compared(counters_b: dict[str, int], agrees: bool,
                                          shown: str) -> None:
    result = diff(b=described("there", counters=counters_b))
    counters = row(result, "TrainingJobStatusCounters")
    assert (counters.a, counters.b, counters.agrees) == ("Completed 3", shown, agrees)
    assert result.agree is agrees


def test_request_differences_are_listed_not_compared() -> None:
    result = diff(rb=tuning_request("there", Strategy="Bayesian",
                                    RandomSeed=7))
    requested = [r for r in result.rows if r.field.startswith("request ")]
    assert requested == [
        Row("request HyperParameterTuningJobConfig.RandomSeed", "-", "7"),
        Row("request HyperParameterTuningJobConfig.Strategy", "Random", "Bayesian"),
    ]
    assert result.agree
    assert not any("HyperParameterTuningJobName" in r.field for r in result.rows)


def test_the_runtime_is_shown_when_one_job_lacks_it() -> None:
    result = diff(b=described("there", runtime=None))
    assert row(result, "RuntimeInSeconds") == Row("RuntimeInSeconds", "600", "-")
    assert result.agree


# -- a configuration tried twice (a retried trial) -----------------------------------------
def retried(name: str) -> list[dict[str, Any]]:
    """Trial 2 retried: its first attempt failed, the second (created later) completed. Listed
    as ListTrainingJobsForHyperParameterTuningJob lists by default (SortBy Name): the attempts'
    names end in a hash (runner.tuning.trial_jobs.trial_job_name), so the later attempt may
    well come first."""
    first, second = summaries(name, [TRIED[1]]), summaries(name, [TRIED[1]])
    first[0].update(TrainingJobName=f"{name}-002-f0000000", TrainingJobStatus="Failed",
                    CreationTime=T0 + 200)
    del first[0]["FinalHyperParameterTuningJobObjectiveMetric"]
    second[0].update(TrainingJobName=f"{name}-002-0aaaaaaa", CreationTime=T0 + 400)
    listed = [*summaries(name, [TRIED[0]]), second[0], first[0]]
    return sorted(listed, key=lambda s: s["TrainingJobName"])


def test_a_retried_configuration_in_attempt_order_is_its_last_attempts() -> None:
    attempts = sorted(retried("here"), key=lambda s: s["CreationTime"])
    result = diff(sa=attempts, sb=summaries("there", TRIED[:2]))
    assert row(result, "trial lr=0.01 optimizer=adam").agrees is True


def test_a_retried_configuration_listed_by_name_is_its_last_attempts() -> None:
    result = diff(sa=retried("here"), sb=summaries("there", TRIED[:2]))
    assert row(result, "trial lr=0.01 optimizer=adam") == Row(
        "trial lr=0.01 optimizer=adam", "0.4", "0.4 (0.00% apart)", True)
