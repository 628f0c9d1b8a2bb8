"""The errors of the service, as SageMaker's API names them; a front end maps each to its own
words (the CLI: exit code 2 and a line; the server: AWS's error shape and HTTP status)."""

from __future__ import annotations

from runner.aws.clients import AwsError
from runner.core.problems import Problem, SpecError
from runner.engines.base import BackendError
from runner.store.base import StoreFull
from runner.store.jobs import JobExists, JobNotFound
from runner.store.tuning import TuningJobExists


class ValidationException(SpecError):
    """The request is not valid: every problem with its field path."""

    code = "ValidationException"
    http_status = 400

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)


class ResourceNotFound(LookupError):
    """No job of that name."""

    code = "ResourceNotFound"
    http_status = 400


class ResourceInUse(Exception):
    """The name is taken, or the job is being run by another process."""

    code = "ResourceInUse"
    http_status = 400


# What a front end tells apart: a name unknown or taken (the CLI: exit 2) and the engine, AWS
# or the machine not doing its part (exit 1: the engine's errors, the store's disk full); the
# store's own errors for names count as the API's.
NAME_ERRORS: tuple[type[Exception], ...] = (ResourceNotFound, ResourceInUse, JobNotFound, JobExists,
                                            TuningJobExists)
# (and the machine's; AWS's: SageMaker refusing a job, no credentials)
ENGINE_ERRORS: tuple[type[Exception], ...] = (BackendError, StoreFull, AwsError)


def error_code(exc: BaseException) -> str | None:
    """AWS's error code for one of the service's refusals; None for anything else."""
    if isinstance(exc, ValidationException | SpecError):
        return "ValidationException"
    if isinstance(exc, ResourceInUse | JobExists | TuningJobExists):
        return "ResourceInUse"
    if isinstance(exc, ResourceNotFound | JobNotFound):
        return "ResourceNotFound"
    return None
