"""The account's quotas against what a request takes at once, and its worst-case
instance-hours; Service Quotas answered by botocore's Stubber (no AWS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from runner.api import cloud_limits as cl
from runner.api.service import Service
from runner.aws.clients import AwsClients, AwsConfig
from runner.core.specs import LocalOptions, Spec

TRAINING: dict[str, Any] = {
    "TrainingJobName": "t",
    "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
    "RoleArn": "arn:aws:iam::123456789012:role/R",
    "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
    "ResourceConfig": {"InstanceType": "ml.p3.2xlarge", "InstanceCount": 2, "VolumeSizeInGB": 5},
    "StoppingCondition": {"MaxRuntimeInSeconds": 7200},
}
TUNING: dict[str, Any] = {
    "HyperParameterTuningJobName": "tj",
    "HyperParameterTuningJobConfig": {
        "Strategy": "Random",
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 50, "MaxParallelTrainingJobs": 4}},
    "TrainingJobDefinition": {k: v for k, v in TRAINING.items() if k != "TrainingJobName"}
    | {"EnableManagedSpotTraining": True},
}


def test_what_a_training_job_takes_at_once() -> None:
    warm = {**TRAINING, "ResourceConfig": {**TRAINING["ResourceConfig"],
                                           "KeepAlivePeriodInSeconds": 600}}
    assert cl.needs(warm) == [
        cl.Need("ResourceConfig.InstanceCount", "ml.p3.2xlarge for training job usage", 2),
        cl.Need("ResourceConfig.KeepAlivePeriodInSeconds",
                "ml.p3.2xlarge for training warm pool usage", 2),
        cl.Need("ResourceConfig.InstanceCount", cl.ALL_INSTANCES, 2),
    ]
    assert cl.needs({**TRAINING, "ResourceConfig": {"InstanceType": "local"}}) == []


def test_a_tuning_job_takes_its_parallel_trials_instances() -> None:
    path = "HyperParameterTuningJobConfig.ResourceLimits.MaxParallelTrainingJobs"
    assert cl.needs(TUNING) == [
        cl.Need(path, "ml.p3.2xlarge for spot training job usage", 8),
        cl.Need(path, cl.ALL_INSTANCES, 8)]


def test_quotas_checked() -> None:
    problems, notes = cl.check(cl.needs(TUNING), {
        "ml.p3.2xlarge for spot training job usage": 4.0, cl.ALL_INSTANCES: 20.0})
    assert [p.path for p in problems] == [
        "HyperParameterTuningJobConfig.ResourceLimits.MaxParallelTrainingJobs"]
    assert "needs 8 instance(s) at once; the account's quota" in problems[0].message
    assert notes == [f"quota {cl.ALL_INSTANCES!r}: 8 of 20"]
    _, notes = cl.check(cl.needs(TRAINING), {})
    assert notes[0].startswith("no Service Quota named 'ml.p3.2xlarge for training job usage'")


def test_worst_case_instance_hours() -> None:
    assert cl.instance_hours(TRAINING) == ("worst case 4.0 instance-hours: MaxRuntimeInSeconds "
                                           "x InstanceCount")
    assert cl.instance_hours(TUNING) == ("worst case 200.0 instance-hours: 50 training jobs x "
                                         "MaxRuntimeInSeconds x InstanceCount")


def quota(name: str, value: float) -> dict[str, Any]:
    return {"ServiceCode": "sagemaker", "QuotaName": name, "QuotaCode": "L-1", "Value": value}


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    svc = Service(tmp_path / "home")
    svc.__dict__["aws"] = AwsClients(AwsConfig(region="us-east-1", max_attempts=1))
    return svc


def test_validate_for_cloud_reads_the_accounts_quotas(tmp_path: Path, service: Service) -> None:
    client = service.aws.client("service-quotas")
    with Stubber(client) as stub:
        stub.add_response("list_aws_default_service_quotas", {"Quotas": [
            quota("ml.p3.2xlarge for training job usage", 0), quota(cl.ALL_INSTANCES, 4)]},
            {"ServiceCode": "sagemaker"})
        stub.add_response("list_service_quotas", {"Quotas": [
            quota("ml.p3.2xlarge for training job usage", 1)]}, {"ServiceCode": "sagemaker"})
        found = service.validate(Spec(TRAINING, LocalOptions(), tmp_path), for_cloud=True,
                                 check_image=False, quotas=True)
    assert [(p.path, "(ResourceLimitExceeded)" in p.message) for p in found.problems] == [
        ("ResourceConfig.InstanceCount", True)]  # the applied 1, not the default 0
    assert found.limits == [
        "worst case 4.0 instance-hours: MaxRuntimeInSeconds x InstanceCount",
        f"quota {cl.ALL_INSTANCES!r}: 2 of 4"]


def test_what_could_not_be_checked_is_said(tmp_path: Path, service: Service) -> None:
    client = service.aws.client("service-quotas")
    with Stubber(client) as stub:
        stub.add_client_error("list_aws_default_service_quotas", "AccessDeniedException",
                              "not allowed")
        found = service.validate(Spec(TRAINING, LocalOptions(), tmp_path), for_cloud=True,
                                 check_image=False, quotas=True)
    assert found.problems == []
    assert found.limits[-1] == ("quotas not checked: AccessDeniedException in "
                                "ListAWSDefaultServiceQuotas: not allowed")
    plain = service.validate(Spec(TRAINING, LocalOptions(), tmp_path), for_cloud=True,
                             check_image=False)
    assert plain.limits[-1].startswith("quotas not checked (--quotas")


def test_parallel_trials_of_several_definitions_are_not_counted_twice() -> None:
    small = {**TUNING["TrainingJobDefinition"], "DefinitionName": "small",
             "ResourceConfig": {**TRAINING["ResourceConfig"], "InstanceCount": 1}}
    big = {**TUNING["TrainingJobDefinition"], "DefinitionName": "big"}
    request = {k: v for k, v in TUNING.items() if k != "TrainingJobDefinition"}
    request["TrainingJobDefinitions"] = [small, big]
    assert [(n.quota, n.instances) for n in cl.needs(request)] == [
        ("ml.p3.2xlarge for spot training job usage", 8), (cl.ALL_INSTANCES, 8)]


def test_instances_from_hyperparameter_tuning_resource_config() -> None:
    definition = {k: v for k, v in TUNING["TrainingJobDefinition"].items()
                  if k != "ResourceConfig"}
    definition["HyperParameterTuningResourceConfig"] = {
        "AllocationStrategy": "Prioritized", "InstanceConfigs": [
            {"InstanceType": "ml.g5.xlarge", "InstanceCount": 3, "VolumeSizeInGB": 5}]}
    request = {**TUNING, "TrainingJobDefinition": definition}
    assert [(n.quota, n.instances) for n in cl.needs(request)] == [
        ("ml.g5.xlarge for spot training job usage", 12), (cl.ALL_INSTANCES, 12)]
