"""SageMaker's wire format, as botocore's service model defines it (``protocol: json``,
``jsonVersion: 1.1``; CloudWatch Logs speaks the same, CloudWatch its 1.0): which operation a
request names (``X-Amz-Target: SageMaker.<Operation>``), its parameters, and the response and
error bodies a client parses.

The model is the schema: a response is serialised by walking the operation's output shape
(timestamps as epoch seconds, members the shape does not know left out), never by hand.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import botocore.model

from runner.core.documents import MAX_DOCUMENT_BYTES
from runner.shapes import model


class WireError(Exception):
    """A request that cannot be read: AWS's error ``code`` and the HTTP status it answers."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


# The services served, by the prefix of their X-Amz-Target: botocore's name for each.
# (CloudWatch's model lists smithy-rpc-v2-cbor, json and query: botocore speaks json to it.)
SERVICES = {"SageMaker": "sagemaker", "Logs_20140328": "logs",
            "GraniteServiceVersion20100801": "cloudwatch"}


def operation(target: str | None) -> botocore.model.OperationModel:
    """The operation an ``X-Amz-Target`` header names; WireError for any other."""
    prefix, _, name = (target or "").partition(".")
    service = model.load_service_model(SERVICES[prefix]) if prefix in SERVICES else None
    if service is None or name not in service.operation_names:
        raise WireError("UnknownOperationException",
                        f"Unknown operation {target or '(no X-Amz-Target)'}")
    return service.operation_model(name)


def content_type(op: botocore.model.OperationModel | None) -> str:
    """The media type of an answer to ``op`` (SageMaker's when the operation is unknown)."""
    version = op.metadata.get("jsonVersion", "1.1") if op is not None else "1.1"
    return f"application/x-amz-json-{version}"


def parameters(body: bytes) -> dict[str, Any]:
    """A request body's parameters (an empty body is no parameters)."""
    if len(body) > MAX_DOCUMENT_BYTES:
        raise WireError("SerializationException",
                        f"the request body is over {MAX_DOCUMENT_BYTES:,} bytes")
    if not body.strip():
        return {}
    try:
        params = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # (nested past the parser's depth)
        raise WireError("SerializationException", "the request body is not JSON") from None
    if not isinstance(params, dict):
        raise WireError("SerializationException", "the request body is not a JSON object")
    return params


def response_body(op: botocore.model.OperationModel, data: dict[str, Any]) -> bytes:
    """``data`` as the operation's output shape serialises it."""
    shape = op.output_shape
    out = _serialise(shape, data) if shape is not None else {}
    return json.dumps(out, allow_nan=False).encode()


def error_body(code: str, message: str) -> bytes:
    """AWS's JSON error shape: botocore reads the code from ``__type``."""
    return json.dumps({"__type": code, "message": message}).encode()


def _serialise(shape: botocore.model.Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return None
        members = shape.members  # type: ignore[attr-defined]
        out = {}
        for key, item in value.items():
            if key in members and item is not None:
                serialised = _serialise(members[key], item)
                if serialised is not None:
                    out[key] = serialised
        return out
    if kind == "list":
        member = shape.member  # type: ignore[attr-defined]
        return ([_serialise(member, item) for item in value] if isinstance(value, list | tuple)
                else None)
    if kind == "map":
        value_shape = shape.value  # type: ignore[attr-defined]
        return ({str(k): _serialise(value_shape, v) for k, v in value.items()}
                if isinstance(value, dict) else None)
    if kind == "timestamp":
        if isinstance(value, datetime):
            return value.timestamp()
        return _number(value)
    if kind in ("double", "float"):
        return _number(value)
    if kind in ("integer", "long"):
        number = _number(value)
        return int(number) if number is not None else None
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "string":
        return value if isinstance(value, str) else None
    return value


def _number(value: Any) -> float | None:
    """A finite number, else None (the member is left out: one odd value never fails a
    whole response)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
