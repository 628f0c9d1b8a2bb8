"""The account's SageMaker Service Quotas (their values by name), as Service Quotas lists
them: AWS's defaults, with the values applied to this account over them."""

from __future__ import annotations

from runner.aws.clients import AwsClients, AwsError, error_message

SERVICE_CODE = "sagemaker"


def sagemaker_quotas(clients: AwsClients) -> dict[str, float]:
    """AwsError (one line, no credentials) when they cannot be read."""
    client = clients.client("service-quotas")
    out: dict[str, float] = {}
    try:
        for operation in ("list_aws_default_service_quotas", "list_service_quotas"):
            for page in client.get_paginator(operation).paginate(ServiceCode=SERVICE_CODE):
                out.update({q["QuotaName"]: float(q["Value"]) for q in page.get("Quotas", [])
                            if "Value" in q})
    except Exception as exc:  # botocore's errors, no credentials, no network
        raise AwsError(error_message(exc)) from None
    return out
