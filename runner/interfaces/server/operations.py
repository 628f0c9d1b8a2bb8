"""The operations ``smlocal serve`` answers: SageMaker's, by name, each a call of the service
with the request's parameters, returning the response's fields (the wire module serialises
them with the output shape)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.api.errors import ValidationException
from runner.api.service import Service
from runner.core.problems import Problem
from runner.core.specs import LOCAL_KEY, Spec, spec_from_dict

Handler = Callable[[Service, dict[str, Any]], dict[str, Any]]
DEFAULT_MAX_RESULTS = 10  # what SageMaker's List operations return when not told

log = logging.getLogger("smlocal.server")


def listener(name: str) -> Callable[[str, dict[str, Any]], None]:
    """A tuning job's events, as lines of the server's log."""

    def listen(kind: str, data: dict[str, Any]) -> None:
        if kind in ("trial-started", "trial-ended", "status", "completion"):
            brief = {k: v for k, v in data.items() if k in ("trial", "job", "status", "reason",
                                                            "objective")}
            log.info("tuning job %s: %s %s", name, kind, brief)

    return listen


def _spec(params: dict[str, Any]) -> Spec:
    """The request as a spec: ``file://`` paths relative to where the server runs, and the
    server's local options (a caller cannot set them: ``Local`` is not SageMaker's, and would
    let it build images from any folder of this machine)."""
    if LOCAL_KEY in params:
        raise ValidationException([Problem(LOCAL_KEY, (
            "is not part of SageMaker's API: the server runs every job with its own local "
            "options"))])
    root = Path.cwd().resolve()
    outside = [Problem(path, f"{uri!r} leads outside the folder smlocal serve runs in ({root}); "
                       "a served job reads and writes file:// paths only inside it")
               for path, uri in _file_uris(params, "") if not _inside(uri, root)]
    if outside:
        raise ValidationException(outside)
    return spec_from_dict(params, root)


def _file_uris(node: Any, path: str) -> list[tuple[str, str]]:
    """Every ``file://`` string of a request, with its field path."""
    if isinstance(node, str):
        return [(path, node)] if node.startswith("file://") else []
    if isinstance(node, dict):
        return [u for k, v in node.items()
                for u in _file_uris(v, f"{path}.{k}" if path else str(k))]
    if isinstance(node, list):
        return [u for i, v in enumerate(node) for u in _file_uris(v, f"{path}[{i}]")]
    return []


def _inside(uri: str, root: Path) -> bool:
    try:
        return (root / uri[len("file://"):]).resolve().is_relative_to(root)
    except (OSError, ValueError):  # a NUL, a loop: not a path inside
        return False


def create_training_job(svc: Service, params: dict[str, Any]) -> dict[str, Any]:
    spec = _spec(params)
    record = svc.training_jobs.start(svc.training_jobs.create_training_job(spec))
    return {"TrainingJobArn": record["TrainingJobArn"]}


def describe_training_job(svc: Service, params: dict[str, Any]) -> dict[str, Any]:
    return svc.training_jobs.describe_training_job(TrainingJobName=params["TrainingJobName"])


def list_training_jobs(svc: Service, params: dict[str, Any]) -> dict[str, Any]:
    return svc.training_jobs.list_training_jobs(**_paged(params))


def stop_training_job(svc: Service, params: dict[str, Any]) -> dict[str, Any]:
    svc.training_jobs.stop_training_job(TrainingJobName=params["TrainingJobName"])
    return {}


def create_hyper_parameter_tuning_job(svc: Service, params: dict[str, Any]) -> dict[str, Any]:
    spec = _spec(params)
    name = spec.request.get("HyperParameterTuningJobName", "")
    tuner = svc.tuning_jobs.create_hyper_parameter_tuning_job(spec, listener(name))
    record = svc.tuning_jobs.start(tuner)
    return {"HyperParameterTuningJobArn": record["HyperParameterTuningJobArn"]}


def describe_hyper_parameter_tuning_job(svc: Service, params: dict[str, Any]) -> dict[str, Any]:
    return svc.tuning_jobs.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=params["HyperParameterTuningJobName"])


def list_hyper_parameter_tuning_jobs(svc: Service, params: dict[str, Any]) -> dict[str, Any]:
    return svc.tuning_jobs.list_hyper_parameter_tuning_jobs(**_paged(params))


def list_training_jobs_for_hyper_parameter_tuning_job(
    svc: Service, params: dict[str, Any]
) -> dict[str, Any]:
    return svc.tuning_jobs.list_training_jobs_for_hyper_parameter_tuning_job(**_paged(params))


def stop_hyper_parameter_tuning_job(svc: Service, params: dict[str, Any]) -> dict[str, Any]:
    name = params["HyperParameterTuningJobName"]
    svc.tuning_jobs.stop_hyper_parameter_tuning_job(name, listener(name))
    return {}


def _paged(params: dict[str, Any]) -> dict[str, Any]:
    return {"MaxResults": DEFAULT_MAX_RESULTS, **params}


def add_tags(svc: Service, params: dict[str, Any]) -> dict[str, Any]:
    return svc.add_tags(**params)


def list_tags(svc: Service, params: dict[str, Any]) -> dict[str, Any]:
    return svc.list_tags(**_paged(params))


def delete_tags(svc: Service, params: dict[str, Any]) -> dict[str, Any]:
    return svc.delete_tags(**params)


def _reader(part: str, method: str) -> Handler:
    """A read of the service's ``part`` (its logs or metrics) taking the request as it is."""

    def read(svc: Service, params: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = getattr(getattr(svc, part), method)(**params)
        return answer

    return read


_SAGEMAKER: dict[str, Handler] = {
    "CreateTrainingJob": create_training_job,
    "DescribeTrainingJob": describe_training_job,
    "ListTrainingJobs": list_training_jobs,
    "StopTrainingJob": stop_training_job,
    "CreateHyperParameterTuningJob": create_hyper_parameter_tuning_job,
    "DescribeHyperParameterTuningJob": describe_hyper_parameter_tuning_job,
    "ListHyperParameterTuningJobs": list_hyper_parameter_tuning_jobs,
    "ListTrainingJobsForHyperParameterTuningJob": list_training_jobs_for_hyper_parameter_tuning_job,
    "StopHyperParameterTuningJob": stop_hyper_parameter_tuning_job,
    "AddTags": add_tags,
    "ListTags": list_tags,
    "DeleteTags": delete_tags,
}
# CloudWatch Logs' reads of training jobs' streams (the SDK's fit(logs=True), logs_for_job)
_LOGS: dict[str, Handler] = {
    "DescribeLogStreams": _reader("job_logs", "describe_log_streams"),
    "GetLogEvents": _reader("job_logs", "get_log_events"),
    "FilterLogEvents": _reader("job_logs", "filter_log_events"),
}
# CloudWatch's reads of training jobs' metrics (the SDK's TrainingJobAnalytics)
_CLOUDWATCH: dict[str, Handler] = {
    "GetMetricStatistics": _reader("job_metrics", "get_metric_statistics"),
    "GetMetricData": _reader("job_metrics", "get_metric_data"),
    "ListMetrics": _reader("job_metrics", "list_metrics"),
}
OPERATIONS: dict[tuple[str, str], Handler] = {
    **{("sagemaker", name): handler for name, handler in _SAGEMAKER.items()},
    **{("logs", name): handler for name, handler in _LOGS.items()},
    **{("cloudwatch", name): handler for name, handler in _CLOUDWATCH.items()},
}
# Create* check their whole request themselves (the service model and the rest, with field
# paths); the others are checked against the service model before they run.
CHECKS_ITSELF = frozenset({"CreateTrainingJob", "CreateHyperParameterTuningJob"})
