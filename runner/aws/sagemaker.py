"""SageMaker itself, as the cloud backend reaches it: the few calls a job submitted there needs
(create, describe, stop, its CloudWatch log streams), each a boto3 call of AwsClients' session.

Endpoints and region come from boto3's own resolution, so ``AWS_ENDPOINT_URL_SAGEMAKER`` and
``AWS_ENDPOINT_URL_CLOUDWATCH_LOGS`` send them to a stand-in (``smlocal serve``, moto) as they
would send any boto3 script. Throttling is botocore's to retry (its ``standard`` mode backs off
on ``ThrottlingException``); what is left after its attempts is a :class:`CloudError` whose
``transient`` says whether waiting and asking again may help. Answers come back as boto3 gives
them (datetimes, no ``ResponseMetadata``); nothing here keeps state between calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.aws.clients import AwsClients, AwsError, error_message

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
_TRANSIENT_CODES = frozenset({
    "ThrottlingException", "Throttling", "ThrottledException", "RequestLimitExceeded",
    "TooManyRequestsException", "ServiceUnavailable", "InternalFailure", "InternalServerError",
    "RequestTimeout", "RequestTimeoutException",
})
_NETWORK_ERRORS = frozenset({
    "EndpointConnectionError", "ConnectionClosedError", "ReadTimeoutError",
    "ConnectTimeoutError", "ProxyConnectionError",
})


class CloudError(AwsError):
    """A SageMaker or CloudWatch Logs call failed after botocore's retries. ``code``: AWS's
    error code (``ValidationException``, ``ResourceLimitExceeded``...) or, for a call that
    never got an answer, the network error's name."""

    def __init__(self, message: str, code: str, transient: bool) -> None:
        super().__init__(message)
        self.code = code
        self.transient = transient


@dataclass(frozen=True)
class Place:
    """Where a cloud job runs: the region and the SageMaker endpoint (AWS's own, or a
    stand-in's); recorded with the job so that another process reaches it again."""

    region: str
    endpoint_url: str

    def to_record(self) -> dict[str, str]:
        return {"Backend": "sagemaker", "Region": self.region, "EndpointUrl": self.endpoint_url}


class SageMakerCloud:
    """SageMaker's training-job calls; safe to share between threads (boto3 clients are)."""

    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients

    def place(self) -> Place:
        return Place(self.clients.region(), str(self._sagemaker().meta.endpoint_url))

    def create_training_job(self, request: dict[str, Any]) -> str:
        """CreateTrainingJob; the job's ARN."""
        return str(self._call(self._sagemaker().create_training_job, **request)["TrainingJobArn"])

    def describe_training_job(self, name: str) -> dict[str, Any]:
        return self._call(self._sagemaker().describe_training_job, TrainingJobName=name)

    def stop_training_job(self, name: str) -> None:
        self._call(self._sagemaker().stop_training_job, TrainingJobName=name)

    def create_hyper_parameter_tuning_job(self, request: dict[str, Any]) -> str:
        """CreateHyperParameterTuningJob; the job's ARN."""
        answer = self._call(self._sagemaker().create_hyper_parameter_tuning_job, **request)
        return str(answer["HyperParameterTuningJobArn"])

    def describe_hyper_parameter_tuning_job(self, name: str) -> dict[str, Any]:
        return self._call(self._sagemaker().describe_hyper_parameter_tuning_job,
                          HyperParameterTuningJobName=name)

    def stop_hyper_parameter_tuning_job(self, name: str) -> None:
        self._call(self._sagemaker().stop_hyper_parameter_tuning_job,
                   HyperParameterTuningJobName=name)

    def tuning_job_trials(self, name: str) -> list[dict[str, Any]]:
        """Every TrainingJobSummary of ListTrainingJobsForHyperParameterTuningJob, oldest
        first (all pages)."""
        from runner.shapes.model import member_max

        operation = "ListTrainingJobsForHyperParameterTuningJob"
        summaries: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"HyperParameterTuningJobName": name,
                                  "MaxResults": member_max(operation, "MaxResults"),
                                  "SortBy": "CreationTime", "SortOrder": "Ascending"}
        while True:
            page = self._call(
                self._sagemaker().list_training_jobs_for_hyper_parameter_tuning_job, **kwargs)
            summaries += page.get("TrainingJobSummaries", [])
            if not page.get("NextToken"):
                return summaries
            kwargs["NextToken"] = page["NextToken"]

    def log_streams(self, job: str) -> list[str]:
        """The job's log streams (``<job>/algo-N-<epoch>``), in name order; none while the
        job has not started (or its log group does not exist yet)."""
        names: list[str] = []
        kwargs: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamNamePrefix": f"{job}/"}
        while True:
            try:
                page = self._call(self.clients.logs().describe_log_streams, **kwargs)
            except CloudError as exc:
                if exc.code == "ResourceNotFoundException":
                    return []
                raise
            names += [s["logStreamName"] for s in page.get("logStreams", [])]
            token = page.get("nextToken")
            if not token:
                return sorted(names)
            kwargs["nextToken"] = token

    def log_events(self, stream: str, token: str | None) -> tuple[list[tuple[float, str]], str]:
        """One page of a stream's events after ``token`` (None: from its start), oldest first,
        as (epoch seconds, message); and the token to ask from next time."""
        kwargs: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamName": stream,
                                  "startFromHead": True}
        if token is not None:
            kwargs["nextToken"] = token
        page = self._call(self.clients.logs().get_log_events, **kwargs)
        events = [(int(e["timestamp"]) / 1000.0, str(e["message"]))
                  for e in page.get("events", [])]
        return events, str(page.get("nextForwardToken") or token or "")

    def _sagemaker(self) -> Any:
        return self.clients.client("sagemaker")

    @staticmethod
    def _call(method: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            answer = dict(method(**kwargs))
        except Exception as exc:
            raise _cloud_error(exc) from None
        answer.pop("ResponseMetadata", None)
        return answer


def _cloud_error(exc: BaseException) -> CloudError:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str((response.get("Error") or {}).get("Code") or "Error")
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        transient = code in _TRANSIENT_CODES or (isinstance(status, int) and status >= 500)
        return CloudError(error_message(exc), code, transient)
    name = type(exc).__name__
    return CloudError(error_message(exc), name, name in _NETWORK_ERRORS)
