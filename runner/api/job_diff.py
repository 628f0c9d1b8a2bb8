"""``smlocal diff A B``: two training jobs of the store side by side, typically the local run
and the SageMaker run of one request, and whether they agree.

Compared (a disagreement makes ``agree`` false): TrainingJobStatus; whether a FailureReason was
given, and its kind (the words before its first colon: ``AlgorithmError``, ``ClientError``...);
the sequence of SecondaryStatus transitions; every final metric (``FinalMetricDataList``),
within a relative tolerance; the names of the files in model.tar.gz and output.tar.gz.
Shown only: where each ran, the requests' differences (less the job names), the metric
series' lengths and last values, the artifacts' sizes, training and billable seconds. Times
and ARNs are never compared: they always differ.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from runner.aws.clients import AwsClients
from runner.aws.s3 import stream_object
from runner.core.archives import list_members
from runner.core.s3_urls import parse_s3_url
from runner.shapes.training_jobs import cloud_place
from runner.store.jobs import Store

Chunks = Callable[[str], Iterable[bytes]]  # an artifact's URI -> its bytes as they arrive
DEFAULT_METRIC_TOLERANCE = 0.01  # relative: |a - b| / max(|a|, |b|)


@dataclass(frozen=True)
class Row:
    """One line of the comparison; ``agrees`` None: shown, not compared."""

    field: str
    a: str
    b: str
    agrees: bool | None = None


@dataclass(frozen=True)
class JobDiff:
    a: str
    b: str
    rows: list[Row]

    @property
    def agree(self) -> bool:
        return all(row.agrees is not False for row in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {"A": self.a, "B": self.b, "Agree": self.agree,
                "Rows": [asdict(row) for row in self.rows]}


def diff_training_jobs(store: Store, a: str, b: str, chunks: Chunks,
                       metric_tolerance: float = DEFAULT_METRIC_TOLERANCE) -> JobDiff:
    ra, rb = store.record(a), store.record(b)
    rows = [Row("where", where(ra), where(rb))]
    rows += request_rows(store.request(a)[0], store.request(b)[0])
    rows.append(same("TrainingJobStatus", ra["TrainingJobStatus"], rb["TrainingJobStatus"]))
    fa, fb = str(ra.get("FailureReason") or ""), str(rb.get("FailureReason") or "")
    if fa or fb:
        rows.append(Row("FailureReason", fa or "-", fb or "-",
                        bool(fa and fb) and _kind(fa) == _kind(fb)))
    rows.append(same("SecondaryStatus sequence", _sequence(ra), _sequence(rb)))
    rows += _metric_rows(ra, rb, metric_tolerance)
    rows += _series_rows(store.metric_series(a), store.metric_series(b))
    rows += _artifact_rows(ra, rb, chunks)
    for key in ("TrainingTimeInSeconds", "BillableTimeInSeconds"):
        if key in ra or key in rb:
            rows.append(Row(key, str(ra.get(key, "-")), str(rb.get(key, "-"))))
    return JobDiff(a, b, rows)


def artifact_chunks(aws: AwsClients, uri: str) -> Iterator[bytes]:
    """An artifact's bytes as they arrive: from S3 (``s3://``) or this machine (``file://``)."""
    if uri.startswith("file://"):
        with open(unquote(urlsplit(uri).path), "rb") as f:
            yield from iter(lambda: f.read(1 << 20), b"")
        return
    url = parse_s3_url(uri)
    yield from stream_object(aws.s3(), url.bucket, url.key)


def same(field: str, a: str, b: str) -> Row:
    return Row(field, a, b, a == b)


def where(record: dict[str, Any]) -> str:
    place = cloud_place(record)
    return "here" if place is None else f"SageMaker ({place['Region']}, {place['EndpointUrl']})"


def _kind(reason: str) -> str:
    return reason.split(":", 1)[0].strip()


def _sequence(record: dict[str, Any]) -> str:
    return " > ".join(str(t.get("Status")) for t in record.get("SecondaryStatusTransitions") or [])


def request_rows(a: dict[str, Any], b: dict[str, Any],
                 ignored: str = "TrainingJobName") -> list[Row]:
    """The requests' differences, field by field (less the job's name), shown only."""
    flat_a, flat_b = _flatten(a), _flatten(b)
    keys = sorted((set(flat_a) | set(flat_b)) - {ignored})
    return [Row(f"request {key}", flat_a.get(key, "-"), flat_b.get(key, "-"))
            for key in keys if flat_a.get(key) != flat_b.get(key)]


def _flatten(node: Any, prefix: str = "") -> dict[str, str]:
    """Leaves of a request by field path (``ResourceConfig.InstanceType``, ``X[0].Y``)."""
    if isinstance(node, dict) and node:
        out: dict[str, str] = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(node, list) and node:
        out = {}
        for index, value in enumerate(node):
            out.update(_flatten(value, f"{prefix}[{index}]"))
        return out
    return {prefix: str(node)}


def _metric_rows(ra: dict[str, Any], rb: dict[str, Any], tolerance: float) -> list[Row]:
    fa, fb = _final_metrics(ra), _final_metrics(rb)
    return [close(f"final {name}", fa.get(name), fb.get(name), tolerance)
            for name in sorted(set(fa) | set(fb))]


def close(field: str, a: float | None, b: float | None, tolerance: float) -> Row:
    """Two values within ``tolerance`` (relative) of each other; both missing agree, one
    missing does not."""
    if a is None or b is None:
        return Row(field, number(a), number(b), a is None and b is None)
    difference = relative_difference(a, b)
    return Row(field, number(a), f"{number(b)} ({difference:.2%} apart)",
               difference <= tolerance)


def relative_difference(a: float, b: float) -> float:
    """|a - b| / max(|a|, |b|); 0 for two zeros."""
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


def _final_metrics(record: dict[str, Any]) -> dict[str, float]:
    out = {}
    for metric in record.get("FinalMetricDataList") or []:
        value = metric.get("Value")
        if isinstance(value, int | float) and math.isfinite(value):
            out[str(metric["MetricName"])] = float(value)
    return out


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _series_rows(sa: dict[str, list[tuple[float, float]]],
                 sb: dict[str, list[tuple[float, float]]]) -> list[Row]:
    def summary(points: list[tuple[float, float]] | None) -> str:
        return "-" if not points else f"{len(points)} values, last {points[-1][1]:g}"

    return [Row(f"series {name}", summary(sa.get(name)), summary(sb.get(name)))
            for name in sorted(set(sa) | set(sb))]


def _artifact_rows(ra: dict[str, Any], rb: dict[str, Any], chunks: Chunks) -> list[Row]:
    rows = []
    for archive in ("model.tar.gz", "output.tar.gz"):
        ua, ub = _artifact(ra, archive), _artifact(rb, archive)
        if ua is None and ub is None:
            continue
        la, lb = _listing(ua, chunks), _listing(ub, chunks)
        if isinstance(la, str) or isinstance(lb, str):  # one could not be read (or neither:
            agrees = None if isinstance(la, str) and isinstance(lb, str) else False  # shown)
            rows.append(Row(archive, _describe(la), _describe(lb), agrees))
            continue
        rows.append(Row(f"{archive} files", ", ".join(sorted(la)) or "(empty)",
                        ", ".join(sorted(lb)) or "(empty)", sorted(la) == sorted(lb)))
        for name in sorted(set(la) | set(lb)):
            if la.get(name) != lb.get(name):
                rows.append(Row(f"{archive} {name} bytes", str(la.get(name, "-")),
                                str(lb.get(name, "-"))))
    return rows


def _artifact(record: dict[str, Any], archive: str) -> str | None:
    """``model.tar.gz``'s URI as the record gives it, or ``output.tar.gz`` beside it."""
    model = (record.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if not isinstance(model, str) or not model.endswith("/model.tar.gz"):
        return None
    return model[: -len("model.tar.gz")] + archive


def _listing(uri: str | None, chunks: Chunks) -> dict[str, int] | str:
    """The archive's files and sizes; a string saying why there is none."""
    if uri is None:
        return "no artifacts"
    try:
        return dict(list_members(chunks(uri)))
    except Exception as exc:  # (a missing object, an archive cut short: told, not compared)
        return f"cannot read {uri}: {exc}"


def _describe(listing: dict[str, int] | str) -> str:
    return listing if isinstance(listing, str) else f"{len(listing)} files"
