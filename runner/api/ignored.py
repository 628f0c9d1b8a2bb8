"""Settings of a request that smlocal accepts (the cloud takes them) but does not do: each one
given gets one line saying what is not emulated, when the job is created and in `validate`.
Nothing a request asks for is dropped in silence."""

from __future__ import annotations

from typing import Any

from runner.core.problems import Problem, join_path

# A CreateTrainingJob member (or a tuning definition's) -> what smlocal does not do of it.
NOT_EMULATED = {
    "DebugHookConfig": "no tensors are collected (SageMaker Debugger's hook)",
    "DebugRuleConfigurations": "Debugger rules are not run (no rule evaluation jobs)",
    "ProfilerConfig": "no system or framework metrics are collected",
    "ProfilerRuleConfigurations": "profiler rules are not run",
    "TensorBoardOutputConfig": "TensorBoard output is not collected from the container nor "
                               "uploaded",
    "ExperimentConfig": "the job is not recorded in SageMaker Experiments",
    "MlflowConfig": "nothing is logged to MLflow",
    "ModelPackageConfig": "no model package is registered",
    "InfraCheckConfig": "the instances' health checks are not run",
    "RemoteDebugConfig": "remote debugging (through SSM) is not available",
    "SessionChainingConfig": "the container gets no chained role session",
    "ServerlessJobConfig": "the job runs as an ordinary one",
    "VpcConfig": "the job runs on this machine's network (a Docker network, or none with "
                 "EnableNetworkIsolation), not in the VPC's subnets",
    "EnableInterContainerTrafficEncryption": "traffic between the hosts is not encrypted",
    "RetryStrategy": "a training job is not retried after an internal error (a tuning job's "
                     "trials are)",
    "EnableManagedSpotTraining": ("the job is never interrupted unless told: rehearse a spot "
                                  "interruption with --interrupt-after or Local.Interruptions"),
}
RESOURCE_CONFIG = {
    "KeepAlivePeriodInSeconds": "every job starts afresh, no instance is kept warm (images and "
                                "data are cached locally anyway)",
    "VolumeKmsKeyId": "the job's volume is a local folder: it is not encrypted with the key",
    "TrainingPlanArn": "the job runs on this machine",
    "InstancePlacementConfig": "every host is on this machine",
}
ALGORITHM = {
    "EnableSageMakerMetricsTimeSeries": "metrics are not published as SageMaker's time series "
                                        "(they are stored, and sent to CloudWatch with "
                                        "Local.CloudWatch)",
}
# Definitions of a tuning job: where their retry strategy *is* emulated.
_TUNING_EMULATES = frozenset({"RetryStrategy"})


def ignored_settings(request: dict[str, Any]) -> list[Problem]:
    """A note for each setting of a CreateTrainingJob or CreateHyperParameterTuningJob
    request that is accepted and not emulated, with its field path."""
    if "TrainingJobName" in request or "AlgorithmSpecification" in request:
        return _of(request, "", frozenset())
    notes = []
    single = request.get("TrainingJobDefinition")
    if isinstance(single, dict):
        notes += _of(single, "TrainingJobDefinition", _TUNING_EMULATES)
    several = request.get("TrainingJobDefinitions")
    for index, definition in enumerate(several if isinstance(several, list) else []):
        if isinstance(definition, dict):
            notes += _of(definition, join_path("TrainingJobDefinitions", index),
                         _TUNING_EMULATES)
    return notes


def _of(body: dict[str, Any], prefix: str, emulated: frozenset[str]) -> list[Problem]:
    notes = [Problem(join_path(prefix, key), f"not emulated: {why}")
             for key, why in NOT_EMULATED.items()
             if key not in emulated and body.get(key) not in (None, False, [], {})]
    groups = (("AlgorithmSpecification", ALGORITHM), ("ResourceConfig", RESOURCE_CONFIG),
              ("HyperParameterTuningResourceConfig", RESOURCE_CONFIG))
    for group, table in groups:
        part = body.get(group)
        if isinstance(part, dict):
            notes += [Problem(join_path(prefix, f"{group}.{key}"), f"not emulated: {why}")
                      for key, why in table.items()
                      if part.get(key) not in (None, False, 0, "", {})]
    return notes
