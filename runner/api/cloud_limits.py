"""What a request asks of an account's SageMaker quotas, and its worst-case instance-hours
(pure: requests and quota values in, problems and notes out).

SageMaker refuses a job that would take more instances of a type than the account's Service
Quota allows (``ResourceLimitExceeded``): ``<type> for training job usage`` (``for spot
training job usage`` with managed spot, ``for training warm pool usage`` for a warm pool),
and ``Number of instances across all training jobs``. A tuning job takes ``InstanceCount x
MaxParallelTrainingJobs`` of them at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.core.problems import Problem
from runner.tuning import trial_jobs

ALL_INSTANCES = "Number of instances across all training jobs"


@dataclass(frozen=True)
class Need:
    path: str  # the field that sets it
    quota: str  # the Service Quota's name
    instances: int


def needs(request: dict[str, Any]) -> list[Need]:
    """The instances the job takes at once, by quota."""
    out: list[Need] = []
    if "HyperParameterTuningJobName" in request:
        # MaxParallelTrainingJobs bounds the trials of every definition together: at worst
        # they are all of the definition that takes the most of a quota
        config = request.get("HyperParameterTuningJobConfig") or {}
        parallel = int((config.get("ResourceLimits") or {}).get("MaxParallelTrainingJobs") or 1)
        path = "HyperParameterTuningJobConfig.ResourceLimits.MaxParallelTrainingJobs"
        most: dict[str, Need] = {}
        for _, def_path, definition in trial_jobs.definitions(request):
            itype, count = _resources(definition)
            for need in _needs(definition, itype, count * parallel, f"{def_path}.ResourceConfig",
                               path):
                if need.quota not in most or need.instances > most[need.quota].instances:
                    most[need.quota] = need
        out = list(most.values())
    else:
        itype, count = _resources(request)
        out = _needs(request, itype, count, "ResourceConfig", "ResourceConfig.InstanceCount")
    running = [n.instances for n in out if "warm pool" not in n.quota]
    if running:
        out.append(Need(out[0].path, ALL_INSTANCES, max(running)))
    return out


def _resources(job: dict[str, Any]) -> tuple[str | None, int]:
    """A training request's instance type and count, or a tuning definition's trials'."""
    config = trial_jobs.resource_config(job)
    return config.get("InstanceType"), int(config.get("InstanceCount") or 1)


def _needs(job: dict[str, Any], itype: str | None, count: int, config_path: str,
           path: str) -> list[Need]:
    if not itype or not itype.startswith("ml."):
        return []
    spot = bool(job.get("EnableManagedSpotTraining"))
    out = [Need(path, f"{itype} for {'spot ' if spot else ''}training job usage", count)]
    keep = (job.get("ResourceConfig") or {}).get("KeepAlivePeriodInSeconds")
    if keep:
        out.append(Need(f"{config_path}.KeepAlivePeriodInSeconds",
                        f"{itype} for training warm pool usage", count))
    return out


def check(found: list[Need], quotas: dict[str, float]) -> tuple[list[Problem], list[str]]:
    """Problems for needs past their quota; notes for the rest (and quotas not found)."""
    problems: list[Problem] = []
    notes: list[str] = []
    for need in found:
        quota = quotas.get(need.quota)
        if quota is None:
            notes.append(f"no Service Quota named {need.quota!r} in this account's list: "
                         "not checked")
        elif need.instances > quota:
            problems.append(Problem(need.path, (
                f"needs {need.instances} instance(s) at once; the account's quota "
                f"{need.quota!r} is {quota:g}: SageMaker refuses it (ResourceLimitExceeded); "
                "ask for more in Service Quotas, or run fewer at once")))
        else:
            notes.append(f"quota {need.quota!r}: {need.instances} of {quota:g}")
    return problems, notes


def instance_hours(request: dict[str, Any]) -> str | None:
    """The worst case: every job running its ``MaxRuntimeInSeconds`` on all its instances."""
    if "HyperParameterTuningJobName" in request:
        limits = (request.get("HyperParameterTuningJobConfig") or {}).get("ResourceLimits") or {}
        jobs = int(limits.get("MaxNumberOfTrainingJobs") or 0)
        worst = 0.0
        for _, _, definition in trial_jobs.definitions(request):
            _, count = _resources(definition)
            runtime = (definition.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
            worst = max(worst, float(runtime or 0) * count)
        if not jobs or not worst:
            return None
        return (f"worst case {_hours(worst * jobs)} instance-hours: {jobs} training jobs x "
                f"MaxRuntimeInSeconds x InstanceCount")
    _, count = _resources(request)
    runtime = (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
    if not runtime:
        return None
    return (f"worst case {_hours(float(runtime) * count)} instance-hours: "
            "MaxRuntimeInSeconds x InstanceCount")


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:,.1f}" if hours >= 1 else f"{hours:.2f}"
