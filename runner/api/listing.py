"""The List* operations' common parameters: filters by name, status and time, sorting, and
pages (``MaxResults``, ``NextToken``), as SageMaker reads them.

Records carry times as epoch seconds; a filter's timestamp may come as epoch seconds (the
wire) or a datetime (boto3 in-process). ``NextToken`` is opaque to the caller: here, the
position of the next entry, refused when it is not one this service handed out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from runner.api.errors import ValidationException
from runner.core.problems import Problem

_SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "Name": lambda r: r.get("TrainingJobName") or r.get("HyperParameterTuningJobName") or "",
    "CreationTime": lambda r: r.get("CreationTime") or 0.0,
    "Status": lambda r: r.get("TrainingJobStatus") or r.get("HyperParameterTuningJobStatus") or "",
}
_STATUS_KEYS = ("TrainingJobStatus", "HyperParameterTuningJobStatus")


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def matching(
    records: Sequence[dict[str, Any]], name_key: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    """The records that pass ``NameContains``, ``StatusEquals`` and the four time filters."""
    out = []
    for record in records:
        if (params.get("NameContains")
                and params["NameContains"] not in str(record.get(name_key, ""))):
            continue
        status = next((record[k] for k in _STATUS_KEYS if k in record), None)
        if params.get("StatusEquals") and status != params["StatusEquals"]:
            continue
        created, modified = record.get("CreationTime") or 0.0, record.get("LastModifiedTime") or 0.0
        if "CreationTimeAfter" in params and not created > _epoch(params["CreationTimeAfter"]):
            continue
        if "CreationTimeBefore" in params and not created < _epoch(params["CreationTimeBefore"]):
            continue
        if ("LastModifiedTimeAfter" in params
                and not modified > _epoch(params["LastModifiedTimeAfter"])):
            continue
        if ("LastModifiedTimeBefore" in params
                and not modified < _epoch(params["LastModifiedTimeBefore"])):
            continue
        out.append(record)
    return out


def ordered(
    records: list[dict[str, Any]], sort_by: str | None, sort_order: str | None
) -> list[dict[str, Any]]:
    """Sorted by ``SortBy`` (CreationTime unless told), newest or last first unless
    ``SortOrder`` is Ascending, as the service lists them."""
    key = _SORT_KEYS.get(sort_by or "CreationTime", _SORT_KEYS["CreationTime"])
    return sorted(records, key=key, reverse=(sort_order or "Descending") == "Descending")


def page(
    items: list[Any], max_results: int | None, next_token: str | None
) -> tuple[list[Any], str | None]:
    """One page of ``items`` from ``next_token`` on, and the token of the next page (None on
    the last). ``max_results`` None: every item left."""
    start = 0
    if next_token:
        if not next_token.isdigit() or int(next_token) > len(items):
            raise ValidationException(
                [Problem("NextToken", "is not a token this service handed out")])
        start = int(next_token)
    if max_results is None:
        return items[start:], None
    end = start + max_results
    return items[start:end], (str(end) if end < len(items) else None)
