"""Tests for runner.aws.cloudwatch: PutLogEvents and PutMetricData batches within AWS's limits
(checked on every call moto receives), shipping, and reading the logs back."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto import mock_aws

from runner.aws import cloudwatch as cw
from runner.aws.clients import AwsClients, AwsConfig


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsClients]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
                 "AWS_ENDPOINT_URL_CLOUDWATCH", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield AwsClients(AwsConfig(max_attempts=1))


def check_log_batch(events: list[dict[str, Any]]) -> None:
    """What AWS requires of one PutLogEvents call."""
    assert 1 <= len(events) <= cw.MAX_BATCH_EVENTS
    sizes = [len(e["message"].encode()) + cw.EVENT_OVERHEAD for e in events]
    assert sum(sizes) <= cw.MAX_BATCH_BYTES
    assert max(sizes) <= cw.MAX_EVENT_BYTES
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps)
    assert stamps[-1] - stamps[0] <= cw.MAX_BATCH_SPAN_MS
    assert all(e["message"] for e in events)


def recording(client: Any, operation: str, check: Any) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def hook(params: dict[str, Any], **kwargs: Any) -> None:
        calls.append(params)
        check(params)

    client.meta.events.register(
        f"provide-client-params.{client.meta.service_model.endpoint_prefix}.{operation}", hook)
    return calls


def test_line_events_escape_tabs_drop_empty_and_split_long_lines() -> None:
    assert cw.line_events(1.5, "a\tb") == [(1500, "a#011b")]
    assert cw.line_events(1.0, "") == []
    long = "é" * 200_000  # 400,000 bytes of two-byte characters
    events = cw.line_events(2.0, long)
    assert len(events) == 2 and "".join(m for _, m in events) == long
    assert all(len(m.encode()) + cw.EVENT_OVERHEAD <= cw.MAX_EVENT_BYTES for _, m in events)


def test_log_batches_keep_every_limit() -> None:
    rng = random.Random(7)
    base = 1_700_000_000_000
    events = [(base + rng.randrange(0, 3 * 24 * 3600 * 1000),
               "m" * rng.choice([1, 50, 2000, 200_000])) for _ in range(30_000)]
    batches = list(cw.log_batches(events))
    for batch in batches:
        check_log_batch(batch)
    flat = [(e["timestamp"], e["message"]) for b in batches for e in b]
    assert flat == sorted(events, key=lambda e: e[0])


def test_log_batches_cut_at_10000_events() -> None:
    batches = list(cw.log_batches([(i, "x") for i in range(25_000)]))
    assert [len(b) for b in batches] == [10_000, 10_000, 5_000]


def test_log_shipper_against_moto(clients: AwsClients) -> None:
    logs = clients.logs()
    calls = recording(logs, "PutLogEvents", lambda p: check_log_batch(p["logEvents"]))
    stream = cw.log_stream_name("job-a", "algo-1", 1_700_000_000.9)
    assert stream == "job-a/algo-1-1700000000"
    shipper = cw.LogShipper(logs, stream, interval=0.05)
    shipper.start()
    now = datetime.now(UTC).timestamp()
    lines = [f"line {i}\twith a tab" for i in range(25_000)]
    for i, line in enumerate(lines):
        shipper.add(now + i / 1000, line)
    shipper.add(now + 30, "x" * (300 * 1024))  # longer than an event: split
    shipper.close()
    assert shipper.errors == []
    assert len(calls) >= 3
    back = [m for _, m in cw.read_stream(logs, stream)]
    assert back[:25_000] == [line.replace("\t", "#011") for line in lines]
    assert "".join(back[25_000:]) == "x" * (300 * 1024)
    assert cw.job_streams(logs, "job-a") == [stream]
    # a second shipper on the same stream (a resumed job) finds it there
    again = cw.LogShipper(logs, stream)
    again.start()
    again.close()


def test_print_job_logs(clients: AwsClients) -> None:
    logs = clients.logs()
    shipper = cw.LogShipper(logs, "job-b/algo-1-5")
    shipper.start()
    shipper.add(datetime.now(UTC).timestamp(), "hello")
    shipper.close()
    out: list[str] = []
    err: list[str] = []
    assert cw.print_job_logs(logs, "job-b", out.append, err.append)
    assert out == ["hello\n"] and err == []
    assert not cw.print_job_logs(logs, "job-c", out.append, err.append)
    assert "no log stream /aws/sagemaker/TrainingJobs/job-c/" in err[0]


def test_metric_publisher_batches(clients: AwsClients) -> None:
    client = clients.cloudwatch()

    def check(params: dict[str, Any]) -> None:
        assert params["Namespace"] == cw.NAMESPACE
        assert 1 <= len(params["MetricData"]) <= cw.MAX_METRIC_DATA

    calls = recording(client, "PutMetricData", check)
    publisher = cw.MetricPublisher(client, interval=0.05)
    publisher.start()
    start = datetime.now(UTC) - timedelta(minutes=5)
    for i in range(2500):
        publisher.add(cw.Datum("train:loss", 1.0 / (i + 1), start.timestamp() + i * 0.01,
                               (("TrainingJobName", "job-m"),)))
    publisher.close()
    assert publisher.errors == [] and publisher.data_sent == 2500
    assert len(calls) >= 3
    metrics = client.list_metrics(Namespace=cw.NAMESPACE)["Metrics"]
    assert (metrics == [{"Namespace": cw.NAMESPACE, "MetricName": "train:loss",
                         "Dimensions": [{"Name": "TrainingJobName", "Value": "job-m"}]}])
    stats = client.get_metric_statistics(
        Namespace=cw.NAMESPACE, MetricName="train:loss",
        Dimensions=[{"Name": "TrainingJobName", "Value": "job-m"}],
        StartTime=start - timedelta(minutes=1), EndTime=datetime.now(UTC) + timedelta(minutes=1),
        Period=3600, Statistics=["SampleCount", "Maximum"],
    )["Datapoints"]
    assert sum(p["SampleCount"] for p in stats) == 2500 and max(p["Maximum"] for p in stats) == 1.0


def test_metric_batches_by_size() -> None:
    big = cw.Datum("m" * 255, 1.0, 0.0, tuple((f"d{i}" * 20, "v" * 250) for i in range(30)))
    batches = list(cw.metric_batches([big] * 200))
    assert (len(batches) > 1 and all(sum(d.cost() for d in b) <= cw.MAX_METRIC_BYTES
                                     for b in batches))


def test_shipper_errors_are_reported_not_raised(clients: AwsClients) -> None:
    warnings: list[str] = []
    shipper = cw.LogShipper(clients.logs(), "never-created", interval=0.01, warn=warnings.append)
    shipper._thread.start()  # skip creating the stream: every put fails
    shipper.add(datetime.now(UTC).timestamp(), "lost")
    shipper.close()
    assert shipper.errors and "ResourceNotFoundException" in warnings[0]
