"""From a tuning request to its trials' CreateTrainingJob requests (pure functions)."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

OBJECTIVE_HYPERPARAMETER = "_tuning_objective_metric"
SINGLE_DEFINITION = "training-job-definition"
# Fields of a HyperParameterTrainingJobDefinition that a CreateTrainingJob request takes as is.
_PASSED_THROUGH = (
    "RoleArn", "InputDataConfig", "VpcConfig", "OutputDataConfig", "ResourceConfig",
    "StoppingCondition",
    "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining",
    "RetryStrategy", "Environment",
)
_ALGORITHM_FIELDS = ("TrainingImage", "TrainingInputMode", "AlgorithmName", "MetricDefinitions")


def definitions(request: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(DefinitionName, field path, definition) for each training job definition; entries that
    are not mappings are left out (validation reports them at their own paths)."""
    many = request.get("TrainingJobDefinitions")
    if isinstance(many, list) and many:
        return [
            (_name(d, f"definition-{i + 1}"), f"TrainingJobDefinitions[{i}]", d)
            for i, d in enumerate(many)
            if isinstance(d, dict)
        ]
    single = request.get("TrainingJobDefinition")
    if isinstance(single, dict):
        return [(_name(single, SINGLE_DEFINITION), "TrainingJobDefinition", single)]
    return []


def _name(definition: dict[str, Any], default: str) -> str:
    name = definition.get("DefinitionName")
    return name if isinstance(name, str) and name else default


def _config(request: dict[str, Any]) -> dict[str, Any]:
    config = request.get("HyperParameterTuningJobConfig")
    return config if isinstance(config, dict) else {}


def objective(request: dict[str, Any], definition: dict[str, Any]) -> dict[str, Any]:
    """The definition's TuningObjective, else the job's HyperParameterTuningJobObjective
    ({} when neither is a mapping)."""
    obj = (definition.get("TuningObjective")
           or _config(request).get("HyperParameterTuningJobObjective"))
    return dict(obj) if isinstance(obj, dict) else {}


def parameter_ranges(request: dict[str, Any], definition: dict[str, Any]) -> dict[str, Any]:
    """The definition's HyperParameterRanges, else the job's ParameterRanges ({} when neither
    is a mapping)."""
    ranges = definition.get("HyperParameterRanges") or _config(request).get("ParameterRanges")
    return dict(ranges) if isinstance(ranges, dict) else {}


def trial_job_name(tuning_job: str, number: int, attempt: int = 0) -> str:
    """``<tuning job>-<NNN>-<8 hex>``, as SageMaker names a tuning job's training jobs.
    Deterministic, so a resumed runner names a trial as the first one did."""
    token = hashlib.sha256(f"{tuning_job}\0{number}\0{attempt}".encode()).hexdigest()[:8]
    return f"{tuning_job}-{number:03d}-{token}"


def trial_request(
    request: dict[str, Any], definition: dict[str, Any], tuned: dict[str, str], job_name: str
) -> dict[str, Any]:
    """The CreateTrainingJob request of one trial: the definition, its static hyperparameters,
    the tuned values and ``_tuning_objective_metric``."""
    out: dict[str, Any] = {"TrainingJobName": job_name}
    algo = definition.get("AlgorithmSpecification") or {}
    out["AlgorithmSpecification"] = {k: copy.deepcopy(algo[k])
                                     for k in _ALGORITHM_FIELDS if k in algo}
    hyperparameters = dict(definition.get("StaticHyperParameters") or {})
    hyperparameters.update(tuned)
    hyperparameters[OBJECTIVE_HYPERPARAMETER] = objective(request, definition).get("MetricName", "")
    out["HyperParameters"] = hyperparameters
    for key in _PASSED_THROUGH:
        if key in definition:
            out[key] = copy.deepcopy(definition[key])
    if "ResourceConfig" not in out and definition.get("HyperParameterTuningResourceConfig"):
        out["ResourceConfig"] = resource_config(definition)
    ckpt = definition.get("CheckpointConfig")
    if ckpt:
        # each trial its own checkpoint folder: trials must not resume from each other
        out["CheckpointConfig"] = {**ckpt, "S3Uri": ckpt["S3Uri"].rstrip("/") + "/" + job_name}
    return out


def resource_config(definition: dict[str, Any]) -> dict[str, Any]:
    """The ResourceConfig a trial of ``definition`` runs with: its own, else the one its
    HyperParameterTuningResourceConfig (its first InstanceConfig, when it has those) gives."""
    if definition.get("ResourceConfig"):
        return dict(definition["ResourceConfig"])
    hptrc = definition.get("HyperParameterTuningResourceConfig") or {}
    itype = hptrc.get("InstanceType")
    count = hptrc.get("InstanceCount", 1)
    volume = hptrc.get("VolumeSizeInGB", 1)
    if not itype and hptrc.get("InstanceConfigs"):
        first = hptrc["InstanceConfigs"][0]
        itype, count = first.get("InstanceType"), first.get("InstanceCount", 1)
        # each InstanceConfig carries its own (required)
        volume = first.get("VolumeSizeInGB", volume)
    out = {"InstanceType": itype, "InstanceCount": count, "VolumeSizeInGB": volume}
    if hptrc.get("VolumeKmsKeyId"):
        out["VolumeKmsKeyId"] = hptrc["VolumeKmsKeyId"]
    return out
