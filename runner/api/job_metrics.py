"""A training job's metrics, read back as CloudWatch serves SageMaker's: namespace
``/aws/sagemaker/TrainingJobs``, one metric per MetricDefinition name with the one dimension
``TrainingJobName`` (GetMetricStatistics, GetMetricData, ListMetrics), from the store, so the
SDK's ``TrainingJobAnalytics`` reads a job that runs here.

Statistics are CloudWatch's: StartTime is rounded down as CloudWatch rounds it (to the
minute, to 5 minutes past 15 days, to the hour past 63 days; to the period for periods under
a minute), the points in [that, EndTime) fall into Period-long buckets from there, and each
bucket with points is one datapoint: SampleCount, Average, Sum,
Minimum, Maximum, percentiles ``pNN`` (nearest rank). A metric is named by its namespace, name
and exact set of dimensions, as in CloudWatch: any other query finds no data, which is not an
error. SageMaker publishes these metrics without a unit (``None``). Instance metrics
(CPUUtilization and the like, dimension ``Host``) are not stored, so they are not served.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from runner.api.errors import ValidationException
from runner.aws.cloudwatch import NAMESPACE
from runner.core.problems import Problem
from runner.shapes import model
from runner.store.jobs import Store

DIMENSION = "TrainingJobName"
UNIT = "None"
MAX_STATISTICS_POINTS = 1440  # GetMetricStatistics' most datapoints a call
MAX_DATA_POINTS = 100_800  # GetMetricData's MaxDatapoints when not given
MAX_QUERIES = 500
LIST_PAGE = 500  # ListMetrics' page
RECENT_SECONDS = 3 * 3600  # RecentlyActive=PT3H
MAX_PERIOD = 455 * 86400  # what CloudWatch keeps: 455 days
HIGH_RESOLUTION = (1, 5, 10, 20, 30)  # periods under a minute
_PERCENTILE = re.compile(r"p(100(\.0{1,2})?|[0-9]{1,2}(\.[0-9]{1,2})?)")
_QUERY_ID = re.compile(r"[a-z][a-zA-Z0-9_]{0,254}")

Points = list[tuple[float, float]]


class InvalidParameterValue(ValidationException):
    code = "InvalidParameterValue"


class InvalidParameterCombination(ValidationException):
    code = "InvalidParameterCombination"


class MissingParameter(ValidationException):
    code = "MissingParameter"


class InvalidNextToken(ValidationException):
    code = "InvalidNextToken"


class JobMetrics:
    def __init__(self, store: Store, now: Callable[[], float] = time.time) -> None:
        self.store = store
        self._now = now

    def get_metric_statistics(  # noqa: N803 (CloudWatch's parameter names)
        self, Namespace: str, MetricName: str, StartTime: Any, EndTime: Any,  # noqa: N803
        Period: int, Dimensions: Sequence[dict[str, str]] = (),  # noqa: N803
        Statistics: Sequence[str] = (), ExtendedStatistics: Sequence[str] = (),  # noqa: N803
        Unit: str | None = None, **_: Any  # noqa: N803
    ) -> dict[str, Any]:
        if not Statistics and not ExtendedStatistics:
            raise MissingParameter([Problem("Statistics", (
                "either Statistics or ExtendedStatistics must be given"))])
        if Statistics and ExtendedStatistics:
            raise InvalidParameterCombination([Problem("ExtendedStatistics", (
                "cannot be given together with Statistics"))])
        allowed = _statistics()
        problems = [Problem(f"Statistics[{i}]", f"must be one of {', '.join(allowed)}, got {s!r}")
                    for i, s in enumerate(Statistics) if s not in allowed]
        problems += [Problem(f"ExtendedStatistics[{i}]", f"must be a percentile p0 to p100, "
                             f"got {s!r}")
                     for i, s in enumerate(ExtendedStatistics) if not _PERCENTILE.fullmatch(s)]
        if problems:
            raise InvalidParameterValue(problems)
        start, end = _window(StartTime, EndTime)
        period = _period("Period", Period)
        first = self._first(start, period)
        wanted = math.ceil((end - first) / period)
        if wanted > MAX_STATISTICS_POINTS:
            raise InvalidParameterCombination([Problem("Period", (
                f"asks for up to {wanted:,} datapoints, over the limit of "
                f"{MAX_STATISTICS_POINTS:,}: make Period longer or the time range shorter"))])
        datapoints = []
        for bucket, values in _buckets(self._points(Namespace, MetricName, Dimensions, Unit,
                                                    first, end), first, period):
            point: dict[str, Any] = {"Timestamp": bucket, "Unit": UNIT}
            point.update({s: _statistic(s, values) for s in Statistics})
            if ExtendedStatistics:
                point["ExtendedStatistics"] = {s: _statistic(s, values)
                                               for s in ExtendedStatistics}
            datapoints.append(point)
        return {"Label": MetricName, "Datapoints": datapoints}

    def get_metric_data(  # noqa: N803
        self, MetricDataQueries: Sequence[dict[str, Any]], StartTime: Any,  # noqa: N803
        EndTime: Any, NextToken: str | None = None,  # noqa: N803
        ScanBy: str = "TimestampDescending", MaxDatapoints: int | None = None,  # noqa: N803
        **_: Any
    ) -> dict[str, Any]:
        start, end = _window(StartTime, EndTime)
        if MaxDatapoints is not None and MaxDatapoints < 1:
            raise InvalidParameterValue([Problem("MaxDatapoints", "must be at least 1")])
        if len(MetricDataQueries) > MAX_QUERIES:
            raise InvalidParameterValue([Problem("MetricDataQueries", (
                f"has {len(MetricDataQueries)} queries, over the limit of {MAX_QUERIES}"))])
        _unique_ids(MetricDataQueries)
        series = [(query, self._query_series(f"MetricDataQueries[{i}]", query, start, end))
                  for i, query in enumerate(MetricDataQueries)]
        shown = [(query, points if ScanBy == "TimestampAscending" else points[::-1])
                 for query, points in series if query.get("ReturnData", True)]
        skip = _offset(NextToken)
        room = MaxDatapoints if MaxDatapoints is not None else MAX_DATA_POINTS
        results = []
        position = 0  # where this query's points begin, counted over every query's
        for query, points in shown:
            low = min(max(skip - position, 0), len(points))
            page = points[low:low + max(room, 0)]
            room -= len(page)
            position += len(points)
            results.append({"Id": query["Id"],
                            "Label": query.get("Label") or query["MetricStat"]["Metric"]
                            .get("MetricName", ""),
                            "Timestamps": [t for t, _ in page], "Values": [v for _, v in page],
                            "StatusCode": ("Complete" if low + len(page) == len(points)
                                           else "PartialData")})
        answer: dict[str, Any] = {"MetricDataResults": results, "Messages": []}
        shown_to = skip + sum(len(r["Values"]) for r in results)
        if shown_to < position:
            answer["NextToken"] = str(shown_to)
        return answer

    def list_metrics(  # noqa: N803
        self, Namespace: str | None = None, MetricName: str | None = None,  # noqa: N803
        Dimensions: Sequence[dict[str, str]] = (), NextToken: str | None = None,  # noqa: N803
        RecentlyActive: str | None = None, **_: Any  # noqa: N803
    ) -> dict[str, Any]:
        if Namespace not in (None, NAMESPACE):
            return {"Metrics": []}
        since = self._now() - RECENT_SECONDS if RecentlyActive == "PT3H" else float("-inf")
        metrics = [
            {"Namespace": NAMESPACE, "MetricName": name,
             "Dimensions": [{"Name": DIMENSION, "Value": job}]}
            for job, name, last in self.store.metric_keys()
            if last >= since and MetricName in (None, name)
            and all(d.get("Name") == DIMENSION and d.get("Value") in (None, job)
                    for d in Dimensions)
        ]
        skip = _offset(NextToken)
        answer: dict[str, Any] = {"Metrics": metrics[skip:skip + LIST_PAGE]}
        if skip + LIST_PAGE < len(metrics):
            answer["NextToken"] = str(skip + LIST_PAGE)
        return answer

    def _query_series(self, path: str, query: dict[str, Any], start: float,
                      end: float) -> Points:
        """One query's datapoints, oldest first."""
        if not _QUERY_ID.fullmatch(query.get("Id", "")):
            raise InvalidParameterValue([Problem(f"{path}.Id", (
                "must start with a lower-case letter and hold only letters, digits and _"))])
        if "Expression" in query:
            raise InvalidParameterValue([Problem(f"{path}.Expression", (
                "metric math is not evaluated by smlocal: ask for each metric with a MetricStat"))])
        stat = query.get("MetricStat")
        if stat is None:
            raise MissingParameter([Problem(path, "needs a MetricStat (or an Expression)")])
        if stat["Stat"] not in _statistics() and not _PERCENTILE.fullmatch(stat["Stat"]):
            raise InvalidParameterValue([Problem(f"{path}.MetricStat.Stat", (
                f"must be one of {', '.join(_statistics())} or a percentile pNN, "
                f"got {stat['Stat']!r}"))])
        period = _period(f"{path}.MetricStat.Period", stat["Period"])
        metric = stat["Metric"]
        first = self._first(start, period)
        points = self._points(metric.get("Namespace"), metric.get("MetricName"),
                              metric.get("Dimensions", ()), stat.get("Unit"), first, end)
        return [(bucket, _statistic(stat["Stat"], values))
                for bucket, values in _buckets(points, first, period)]

    def _first(self, start: float, period: int) -> float:
        """Where the first bucket begins: ``start`` rounded down as CloudWatch rounds it."""
        age = self._now() - start
        unit = (3600 if age > 63 * 86400 else 300 if age > 15 * 86400
                else 60 if period >= 60 else period)
        return math.floor(start / unit) * unit

    def _points(self, namespace: str | None, name: str | None,
                dimensions: Sequence[dict[str, str]], unit: str | None, since: float,
                until: float) -> Points:
        """The stored points of the one metric these name (none for any other)."""
        if namespace != NAMESPACE or name is None or unit not in (None, UNIT):
            return []
        if len(dimensions) != 1 or dimensions[0].get("Name") != DIMENSION:
            return []
        job = dimensions[0].get("Value", "")
        return [(ts, value) for ts, value in self.store.metric_points(job, name, since, until)
                if math.isfinite(value)]  # (CloudWatch holds no NaN or infinity)


def _statistics() -> list[str]:
    """CloudWatch's statistics, as its service model lists them."""
    return list(model.load_service_model("cloudwatch").shape_for("Statistic").metadata["enum"])


def _buckets(points: Points, first: float, period: int) -> list[tuple[float, list[float]]]:
    buckets: dict[float, list[float]] = {}
    for ts, value in points:
        buckets.setdefault(first + math.floor((ts - first) / period) * period, []).append(value)
    return sorted(buckets.items())


def _statistic(name: str, values: list[float]) -> float:
    if name == "SampleCount":
        return float(len(values))
    if name == "Sum":
        return math.fsum(values)
    if name == "Average":
        return math.fsum(values) / len(values)
    if name == "Minimum":
        return min(values)
    if name == "Maximum":
        return max(values)
    ranked = sorted(values)  # a percentile, nearest rank
    rank = math.ceil(float(name[1:]) / 100 * len(ranked))
    return ranked[max(rank - 1, 0)]


def _window(start: Any, end: Any) -> tuple[float, float]:
    first, last = _epoch("StartTime", start), _epoch("EndTime", end)
    if first >= last:
        raise InvalidParameterValue([Problem("StartTime", "must be before EndTime")])
    return first, last


def _epoch(path: str, value: Any) -> float:
    """A timestamp as the wire carries it (epoch seconds, or an ISO 8601 string)."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    import botocore.utils

    try:
        return float(botocore.utils.parse_timestamp(value).timestamp())
    except (ValueError, TypeError, OverflowError):
        raise InvalidParameterValue([Problem(path, f"is not a time: {value!r}")]) from None


def _period(path: str, period: int) -> int:
    if period in HIGH_RESOLUTION or (0 < period <= MAX_PERIOD and period % 60 == 0):
        return period
    raise InvalidParameterValue([Problem(path, (
        f"must be 1, 5, 10, 20, 30 or a multiple of 60 seconds up to {MAX_PERIOD:,} (455 "
        f"days), got {period}"))])


def _unique_ids(queries: Sequence[dict[str, Any]]) -> None:
    ids = [q["Id"] for q in queries]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise InvalidParameterValue([Problem("MetricDataQueries", (
            f"Id {repeated[0]!r} is given to more than one query"))])


def _offset(token: str | None) -> int:
    if token is None:
        return 0
    if not (token.isascii() and token.isdigit() and len(token) < 19):
        raise InvalidNextToken([Problem("NextToken", "is not a token this service handed out")])
    return int(token)


__all__ = ["JobMetrics"]
