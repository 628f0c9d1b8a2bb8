"""Training jobs' metrics as CloudWatch serves them (runner/api/job_metrics.py), read the way
the SageMaker SDK's TrainingJobAnalytics reads them."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.parsers
import pytest

from runner.api.job_metrics import (
    InvalidNextToken,
    InvalidParameterCombination,
    InvalidParameterValue,
    JobMetrics,
    MissingParameter,
)
from runner.shapes import model
from runner.store.jobs import Store

NS = "/aws/sagemaker/TrainingJobs"
T0 = 1_800_000_000.0  # a whole minute (and hour) since the epoch
DIMS = [{"Name": "TrainingJobName", "Value": "job"}]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "home")
    record = {"TrainingJobName": "job", "TrainingJobStatus": "Completed", "CreationTime": T0,
              "TrainingStartTime": T0 + 5, "TrainingEndTime": T0 + 150,
              "AlgorithmSpecification": {"MetricDefinitions": [
                  {"Name": "loss", "Regex": "loss=(.+)"}, {"Name": "acc", "Regex": "acc=(.+)"}]}}
    store.create_training_job(record, {}, {})
    # two minutes of loss (three points, then two, then an infinity the regex caught), one acc point
    store.add_metrics("job", [("loss", 4.0, T0 + 10), ("loss", 2.0, T0 + 20),
                              ("loss", 3.0, T0 + 50), ("acc", 0.5, T0 + 30),
                              ("loss", 1.0, T0 + 70), ("loss", 0.5, T0 + 110),
                              ("loss", math.inf, T0 + 115)])
    store.add_metrics("other", [("loss", 99.0, T0 + 10)])
    return store


@pytest.fixture
def metrics(store: Store) -> JobMetrics:
    return JobMetrics(store, now=lambda: T0 + 200)


def stats(metrics: JobMetrics, **params: Any) -> list[dict[str, Any]]:
    request = {"Namespace": NS, "MetricName": "loss", "Dimensions": DIMS, "StartTime": T0,
               "EndTime": T0 + 180, "Period": 60, "Statistics": ["Average"], **params}
    return list(metrics.get_metric_statistics(**request)["Datapoints"])


def test_statistics_per_period_aligned_to_the_period(metrics: JobMetrics) -> None:
    points = stats(metrics, Statistics=["SampleCount", "Average", "Sum", "Minimum", "Maximum"])
    assert points == [
        {"Timestamp": T0, "Unit": "None", "SampleCount": 3.0, "Average": 3.0, "Sum": 9.0,
         "Minimum": 2.0, "Maximum": 4.0},
        {"Timestamp": T0 + 60, "Unit": "None", "SampleCount": 2.0, "Average": 0.75, "Sum": 1.5,
         "Minimum": 0.5, "Maximum": 1.0},  # (the infinity left out: CloudWatch holds none)
    ]
    # a start inside a period is rounded down to it, an end is exclusive
    assert [p["Timestamp"] for p in stats(metrics, StartTime=T0 + 30, EndTime=T0 + 70)] == [T0]
    assert stats(metrics, StartTime=T0 + 30, EndTime=T0 + 71)[1]["Average"] == 1.0
    hourly = stats(metrics, Period=3600, EndTime=T0 + 3600)
    assert hourly == [{"Timestamp": T0, "Unit": "None", "Average": 2.1}]
    # buckets begin at the start, rounded down to its minute (not to the period)
    assert stats(metrics, Period=3600, StartTime=T0 + 65, EndTime=T0 + 3600) == [
        {"Timestamp": T0 + 60, "Unit": "None", "Average": 0.75}]
    assert [p["Timestamp"] for p in stats(metrics, Period=20, EndTime=T0 + 60)] == [
        T0, T0 + 20, T0 + 40]  # a high-resolution period: rounded to itself


def test_percentiles_and_times_as_the_wire_carries_them(metrics: JobMetrics) -> None:
    points = stats(metrics, Statistics=[], ExtendedStatistics=["p50", "p100", "p0"],
                   StartTime="2027-01-15T08:00:00Z",
                   EndTime=datetime.fromtimestamp(T0 + 60, UTC))
    assert points == [{"Timestamp": T0, "Unit": "None",
                       "ExtendedStatistics": {"p50": 3.0, "p100": 4.0, "p0": 2.0}}]


def test_other_metrics_find_no_data_as_in_cloudwatch(metrics: JobMetrics) -> None:
    assert stats(metrics, Namespace="/aws/sagemaker/Endpoints") == []
    assert stats(metrics, MetricName="gone") == []
    assert stats(metrics, Unit="Seconds") == []
    assert len(stats(metrics, Unit="None")) == 2
    assert stats(metrics, Dimensions=[]) == []
    assert stats(metrics, Dimensions=[*DIMS, {"Name": "Host", "Value": "job/algo-1"}]) == []
    assert stats(metrics, Dimensions=[{"Name": "TrainingJobName", "Value": "other"}]) == [
        {"Timestamp": T0, "Unit": "None", "Average": 99.0}]


def test_bad_requests_are_cloudwatchs_errors_with_the_field(metrics: JobMetrics) -> None:
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"Statistics": []}, MissingParameter, "Statistics"),
        ({"ExtendedStatistics": ["p90"]}, InvalidParameterCombination, "ExtendedStatistics"),
        ({"Statistics": ["Mean"]}, InvalidParameterValue, "Statistics[0]"),
        ({"Statistics": [], "ExtendedStatistics": ["p101"]}, InvalidParameterValue,
         "ExtendedStatistics[0]"),
        ({"Period": 45}, InvalidParameterValue, "Period"),
        ({"Period": 6 * 10**400}, InvalidParameterValue, "Period"),
        ({"Statistics": [], "ExtendedStatistics": ["p50\n"]}, InvalidParameterValue,
         "ExtendedStatistics[0]"),
        ({"Period": 1, "EndTime": T0 + 3600}, InvalidParameterCombination, "Period"),
        ({"StartTime": T0 + 180}, InvalidParameterValue, "StartTime"),
        ({"EndTime": "yesterday-ish"}, InvalidParameterValue, "EndTime"),
    ]
    for params, error, field in cases:
        with pytest.raises(error) as caught:
            stats(metrics, **params)
        assert caught.value.problems[0].path == field, params


def query(ident: str, name: str = "loss", stat: str = "Average", **extra: Any) -> dict[str, Any]:
    return {"Id": ident, "MetricStat": {"Metric": {"Namespace": NS, "MetricName": name,
                                                   "Dimensions": DIMS},
                                        "Period": 60, "Stat": stat}, **extra}


def test_metric_data_newest_first_labelled_and_paged(metrics: JobMetrics) -> None:
    window = {"StartTime": T0, "EndTime": T0 + 180}
    answer = metrics.get_metric_data([query("l"), query("a", "acc", "p50", Label="accuracy"),
                                      query("hidden", ReturnData=False)], **window)
    assert answer["MetricDataResults"] == [
        {"Id": "l", "Label": "loss", "Timestamps": [T0 + 60, T0], "Values": [0.75, 3.0],
         "StatusCode": "Complete"},
        {"Id": "a", "Label": "accuracy", "Timestamps": [T0], "Values": [0.5],
         "StatusCode": "Complete"},
    ]
    assert "NextToken" not in answer
    ascending = metrics.get_metric_data([query("l")], ScanBy="TimestampAscending", **window)
    assert ascending["MetricDataResults"][0]["Timestamps"] == [T0, T0 + 60]
    # two points a page: three points over two queries take two pages
    page = metrics.get_metric_data([query("l"), query("a", "acc")], MaxDatapoints=2, **window)
    assert [r["Values"] for r in page["MetricDataResults"]] == [[0.75, 3.0], []]
    assert page["MetricDataResults"][1]["StatusCode"] == "PartialData"
    rest = metrics.get_metric_data([query("l"), query("a", "acc")], MaxDatapoints=2,
                                   NextToken=page["NextToken"], **window)
    assert [r["Values"] for r in rest["MetricDataResults"]] == [[], [0.5]]
    assert "NextToken" not in rest
    for token in ("x", "\u00b2", "9" * 5000):
        with pytest.raises(InvalidNextToken):
            metrics.get_metric_data([query("l")], NextToken=token, **window)
    with pytest.raises(InvalidParameterValue):
        metrics.get_metric_data([query("l")], MaxDatapoints=0, **window)


def test_metric_data_refusals(metrics: JobMetrics) -> None:
    window = {"StartTime": T0, "EndTime": T0 + 180}
    for queries, field in [
        ([{"Id": "m", "Expression": "SUM(METRICS())"}], "MetricDataQueries[0].Expression"),
        ([query("Upper")], "MetricDataQueries[0].Id"),
        ([query("l"), query("l", "acc")], "MetricDataQueries"),
        ([query("l", stat="Middle")], "MetricDataQueries[0].MetricStat.Stat"),
        ([{"Id": "m"}], "MetricDataQueries[0]"),
    ]:
        with pytest.raises((InvalidParameterValue, MissingParameter)) as caught:
            metrics.get_metric_data(queries, **window)
        assert caught.value.problems[0].path == field


def test_list_metrics_filters_and_pages(metrics: JobMetrics, store: Store) -> None:
    def listed(**params: Any) -> list[tuple[str, str]]:
        return [(m["Dimensions"][0]["Value"], m["MetricName"])
                for m in metrics.list_metrics(**params)["Metrics"]]

    assert listed() == [("job", "acc"), ("job", "loss"), ("other", "loss")]
    assert listed(Namespace=NS, MetricName="loss") == [("job", "loss"), ("other", "loss")]
    assert listed(Dimensions=[{"Name": "TrainingJobName", "Value": "other"}]) == [
        ("other", "loss")]
    assert listed(Dimensions=[{"Name": "TrainingJobName"}]) == listed()
    assert listed(Dimensions=[{"Name": "Host"}]) == []
    assert listed(Namespace="AWS/EC2") == []
    store.add_metrics("old", [("loss", 1.0, T0 + 200 - 4 * 3600)])
    assert ("old", "loss") in listed() and ("old", "loss") not in listed(RecentlyActive="PT3H")
    store.add_metrics("many", [(f"m{i:03}", 1.0, T0) for i in range(600)])
    first = metrics.list_metrics()
    assert len(first["Metrics"]) == 500
    second = metrics.list_metrics(NextToken=first["NextToken"])
    assert len(second["Metrics"]) == 604 - 500 and "NextToken" not in second


class _Session:
    """What TrainingJobAnalytics asks of a sagemaker Session: a SageMaker client's
    describe_training_job and a boto session's CloudWatch client."""

    def __init__(self, store: Store, metrics: JobMetrics) -> None:
        self.sagemaker_client = self
        self.boto_session = self
        self._store, self._metrics = store, metrics

    def client(self, name: str) -> _Session:
        assert name == "cloudwatch"
        return self

    def get_metric_statistics(self, **params: Any) -> dict[str, Any]:
        """The answer as botocore parses it off the wire (timestamps as datetimes)."""
        op = model.load_service_model("cloudwatch").operation_model("GetMetricStatistics")
        body = json.dumps(self._metrics.get_metric_statistics(**params), default=str).encode()
        parsed: dict[str, Any] = botocore.parsers.create_parser("json").parse(
            {"body": body, "headers": {}, "status_code": 200}, op.output_shape)
        return parsed

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:  # noqa: N803
        record = self._store.record(TrainingJobName)
        for key in ("TrainingStartTime", "TrainingEndTime"):
            record[key] = datetime.fromtimestamp(record[key], UTC)
        return record


def test_the_sdks_training_job_analytics_reads_every_metric(store: Store,
                                                           metrics: JobMetrics) -> None:
    from sagemaker.analytics import TrainingJobAnalytics

    frame = TrainingJobAnalytics("job", sagemaker_session=_Session(store, metrics)).dataframe()
    rows = sorted(zip(frame["metric_name"], frame["timestamp"], frame["value"], strict=True))
    assert rows == [("acc", 0.0, 0.5), ("loss", 0.0, 3.0), ("loss", 60.0, 0.75)]
