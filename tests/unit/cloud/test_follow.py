"""Tests for runner.cloud.follow: a cloud training job followed into a real store, against an
in-memory SageMaker that serves scripted DescribeTrainingJob answers and log events that
appear over the rounds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.aws.sagemaker import CloudError, Place
from runner.cloud.follow import CloudFollower, to_record
from runner.core.clock import FakeClock
from runner.shapes.training_jobs import PLACE_KEY, cloud_place, epoch_seconds
from runner.store.jobs import Store

JOB = "cloud-job"
STREAM_1 = f"{JOB}/algo-1-1700000000"
STREAM_2 = f"{JOB}/algo-2-1700000000"
HOST_1, HOST_2 = "algo-1-1700000000", "algo-2-1700000000"  # lines are stored by stream
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
PLACE = Place("us-east-1", "http://fake-sagemaker.test")
LOSS = {"Name": "train:loss", "Regex": r"loss=(\S+)"}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def transition(status: str, start: float, message: str = "") -> dict[str, Any]:
    return {"Status": status, "StartTime": at(start), "StatusMessage": message}


STORY = [transition("Starting", 0, "Preparing the instances for training"),
         transition("Downloading", 60), transition("Training", 120),
         transition("Completed", 300, "Training job completed")]


def described(status: str, secondary: str, transitions: int = 0) -> dict[str, Any]:
    """A DescribeTrainingJob answer as boto3 gives it: datetimes, nested ones too."""
    told = [dict(t) for t in STORY[:transitions]]
    for earlier, later in zip(told, told[1:], strict=False):
        earlier["EndTime"] = later["StartTime"]
    answer: dict[str, Any] = {
        "TrainingJobName": JOB,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{JOB}",
        "TrainingJobStatus": status, "SecondaryStatus": secondary,
        "CreationTime": at(0), "LastModifiedTime": at(10 * transitions),
        "SecondaryStatusTransitions": told,
    }
    if transitions >= 3:
        answer["TrainingStartTime"] = at(120)
    if status != "InProgress":
        answer["TrainingEndTime"] = at(300)
    return answer


class FakeCloud:
    """SageMakerCloud's calls, in memory. ``answers``: DescribeTrainingJob's answers, one a
    call (the last one again once used up), or the error to raise on that call. ``events``:
    (read, stream, epoch seconds, line): a line that becomes visible at the ``read``-th
    DescribeLogStreams call (1-based: one a round, one a pass of the drain). ``page``: most
    events GetLogEvents returns at once."""

    def __init__(self, answers: list[dict[str, Any] | BaseException],
                 events: list[tuple[int, str, float, str]] = (),  # type: ignore[assignment]
                 page: int = 100) -> None:
        self.answers = answers
        self.events = list(events)
        self.page = page
        self.describes = 0
        self.reads = 0
        self.stopped: list[str] = []

    def place(self) -> Place:
        return PLACE

    def describe_training_job(self, name: str) -> dict[str, Any]:
        assert name == JOB
        answer = self.answers[min(self.describes, len(self.answers) - 1)]
        self.describes += 1
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def stop_training_job(self, name: str) -> None:
        self.stopped.append(name)

    def log_streams(self, job: str) -> list[str]:
        self.reads += 1
        return sorted({stream for read, stream, _, _ in self.events
                       if read <= self.reads and stream.startswith(f"{job}/")})

    def visible(self, stream: str) -> list[tuple[float, str]]:
        return [(ts, line) for read, s, ts, line in self.events
                if s == stream and read <= self.reads]

    def log_events(self, stream: str, token: str | None) -> tuple[list[tuple[float, str]], str]:
        start = int(token.removeprefix("f/")) if token else 0
        events = self.visible(stream)[start:start + self.page]
        return events, f"f/{start + len(events)}"


class Recorder:
    """What a follower tells and echoes, and the records it saves."""

    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        self.notes: list[str] = []
        self.echoed: list[tuple[str, str, str]] = []
        self.saved: list[dict[str, Any]] = []
        save = store.save_record

        def saving(record: dict[str, Any]) -> None:
            save(record)
            self.saved.append(record)

        monkeypatch.setattr(store, "save_record", saving)

    def echo(self, host: str, stream: str, line: str) -> None:
        self.echoed.append((host, stream, line))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "home")
    yield store
    store.close()


def create_job(store: Store, status: str = "InProgress",
               definitions: list[dict[str, str]] | None = None) -> None:
    """The job as CloudJobs records it when it is submitted (or imported, ``status`` ended)."""
    record = to_record(described(status, "Starting" if status == "InProgress" else status,
                                 0 if status == "InProgress" else len(STORY)), PLACE)
    request = {"TrainingJobName": JOB,
               "AlgorithmSpecification": {"TrainingImage": "123456789012.dkr.ecr.us-east-1."
                                                           "amazonaws.com/demo:1",
                                          "TrainingInputMode": "File",
                                          "MetricDefinitions": definitions or [LOSS]}}
    store.create_training_job(record, request, {"Backend": "sagemaker"})


def follower(store: Store, cloud: FakeCloud, clock: FakeClock, recorder: Recorder,
             interval: float = 5.0) -> CloudFollower:
    return CloudFollower(JOB, store, cloud, clock, recorder.notes.append,  # type: ignore[arg-type]
                         recorder.echo, interval)


def lines(store: Store) -> list[tuple[str, str, float, str]]:
    return [(x.host, x.stream, x.ts, x.line) for x in store.iter_logs(JOB)]


def test_epoch_seconds() -> None:
    assert epoch_seconds({"a": [at(1)], "b": "x"}) == {"a": [T0.timestamp() + 1], "b": "x"}
    assert to_record({"CreationTime": at(0)}, PLACE) == {
        "CreationTime": T0.timestamp(),
        PLACE_KEY: {"Backend": "sagemaker", "Region": "us-east-1",
                    "EndpointUrl": "http://fake-sagemaker.test"}}


def test_follow_saves_every_round_and_returns_the_final_record(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    create_job(store)
    recorder = Recorder(store, monkeypatch)
    cloud = FakeCloud([described("InProgress", "Starting", 1),
                       described("InProgress", "Training", 3),
                       described("Completed", "Completed", 4)])
    clock = FakeClock()
    final = follower(store, cloud, clock, recorder).follow()
    assert [r["SecondaryStatus"] for r in recorder.saved] == ["Starting", "Training", "Completed"]
    assert cloud.describes == 3
    assert clock.monotonic() == 10.0  # a round every 5 s, none after the end
    assert final == store.record(JOB) == recorder.saved[-1]
    assert final["TrainingJobStatus"] == "Completed"
    assert final["CreationTime"] == T0.timestamp()
    assert final["TrainingEndTime"] == T0.timestamp() + 300
    assert final["SecondaryStatusTransitions"][0] == {
        "Status": "Starting", "StartTime": T0.timestamp(), "EndTime": T0.timestamp() + 60,
        "StatusMessage": "Preparing the instances for training"}
    assert cloud_place(final) == PLACE.to_record()
    assert store.list_training_jobs()[0]["TrainingJobStatus"] == "Completed"


def test_each_new_transition_is_told_once(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    create_job(store)
    recorder = Recorder(store, monkeypatch)
    cloud = FakeCloud([described("InProgress", "Starting", 1),
                       described("InProgress", "Starting", 1),
                       described("InProgress", "Training", 3),
                       described("InProgress", "Training", 3),
                       described("Completed", "Completed", 4)])
    follower(store, cloud, FakeClock(), recorder).follow()
    assert recorder.notes == [
        f"training job {JOB}: Starting: Preparing the instances for training",
        f"training job {JOB}: Downloading",
        f"training job {JOB}: Training",
        f"training job {JOB}: Completed: Training job completed",
    ]


def test_lines_are_stored_echoed_and_scraped(store: Store,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    create_job(store, definitions=[LOSS, {"Name": "acc", "Regex": r"acc=(\S+)"}])
    recorder = Recorder(store, monkeypatch)
    t = T0.timestamp()
    cloud = FakeCloud(
        [described("InProgress", "Training", 3), described("InProgress", "Training", 3),
         described("Completed", "Completed", 4)],
        [(1, STREAM_1, t + 1, "starting"), (1, STREAM_1, t + 2, "epoch 1 loss=0.5 acc=0.7"),
         (2, STREAM_2, t + 2.5, "worker up"), (2, STREAM_1, t + 3, "epoch 2 loss=0.25"),
         (3, STREAM_1, t + 4, "done")])
    follower(store, cloud, FakeClock(), recorder).follow()
    assert lines(store) == [
        (HOST_1, "stdout", t + 1, "starting"), (HOST_1, "stdout", t + 2,
                                                 "epoch 1 loss=0.5 acc=0.7"),
        (HOST_1, "stdout", t + 3, "epoch 2 loss=0.25"), (HOST_2, "stdout", t + 2.5,
                                                          "worker up"),
        (HOST_1, "stdout", t + 4, "done")]
    assert recorder.echoed == [(host, stream, line) for host, stream, _, line in lines(store)]
    assert store.metric_series(JOB) == {"train:loss": [(t + 2, 0.5), (t + 3, 0.25)],
                                        "acc": [(t + 2, 0.7)]}


def test_lines_delivered_after_the_end_are_still_read(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    create_job(store)
    recorder = Recorder(store, monkeypatch)
    t = T0.timestamp()
    cloud = FakeCloud(
        [described("InProgress", "Training", 3), described("Completed", "Completed", 4)],
        [(1, STREAM_1, t + 1, "epoch 1 loss=0.5"),
         # written before the end, delivered by CloudWatch after SageMaker says Completed
         (3, STREAM_1, t + 2, "epoch 2 loss=0.4"), (3, STREAM_1, t + 3, "epoch 3 loss=0.3"),
         (3, STREAM_1, t + 4, "epoch 4 loss=0.2"), (4, STREAM_2, t + 5, "late host")],
        page=2)
    clock = FakeClock()
    final = follower(store, cloud, clock, recorder).follow()
    assert final["TrainingJobStatus"] == "Completed"
    assert [x[3] for x in lines(store)] == ["epoch 1 loss=0.5", "epoch 2 loss=0.4",
                                            "epoch 3 loss=0.3", "epoch 4 loss=0.2", "late host"]
    assert [v for _, v in store.metric_series(JOB)["train:loss"]] == [0.5, 0.4, 0.3, 0.2]
    assert cloud.describes == 2  # the drain reads logs, it does not ask SageMaker again
    # the saved final record came after the drain: nothing is saved once it is terminal
    assert recorder.saved[-1]["TrainingJobStatus"] == "Completed"


def test_a_transient_error_is_told_and_waited_out(store: Store,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    create_job(store)
    recorder = Recorder(store, monkeypatch)
    throttled = CloudError("ThrottlingException in DescribeTrainingJob: Rate exceeded",
                           "ThrottlingException", transient=True)
    cloud = FakeCloud([described("InProgress", "Starting", 1), throttled, throttled,
                       described("InProgress", "Training", 3),
                       described("Completed", "Completed", 4)])
    clock = FakeClock()
    sleeps: list[float] = []
    sleep = clock.sleep

    def sleeping(seconds: float) -> None:
        sleeps.append(seconds)
        sleep(seconds)

    monkeypatch.setattr(clock, "sleep", sleeping)
    final = follower(store, cloud, clock, recorder, interval=5.0).follow()
    assert final["TrainingJobStatus"] == "Completed"
    assert sleeps == [5.0, 10.0, 20.0, 5.0]  # doubled while SageMaker does not answer
    told = [n for n in recorder.notes if "did not answer" in n]
    assert told == [
        f"training job {JOB}: SageMaker did not answer ({throttled}); asking again in 10 s",
        f"training job {JOB}: SageMaker did not answer ({throttled}); asking again in 20 s"]
    assert [r["SecondaryStatus"] for r in recorder.saved] == ["Starting", "Training", "Completed"]


def test_the_wait_doubles_up_to_a_minute(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    create_job(store)
    recorder = Recorder(store, monkeypatch)
    down = CloudError("EndpointConnectionError: no", "EndpointConnectionError", transient=True)
    cloud = FakeCloud([down, down, down, down, described("Completed", "Completed", 4)])
    clock = FakeClock()
    follower(store, cloud, clock, recorder, interval=20.0).follow()
    assert clock.monotonic() == 40.0 + 60.0 + 60.0 + 60.0


def test_any_other_error_ends_the_following(store: Store,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    create_job(store)
    recorder = Recorder(store, monkeypatch)
    refused = CloudError("AccessDeniedException in DescribeTrainingJob: no",
                         "AccessDeniedException", transient=False)
    cloud = FakeCloud([described("InProgress", "Training", 3), refused,
                       described("Completed", "Completed", 4)])
    with pytest.raises(CloudError) as exc:
        follower(store, cloud, FakeClock(), recorder).follow()
    assert exc.value is refused
    assert cloud.describes == 2
    assert store.record(JOB)["SecondaryStatus"] == "Training"  # the last round's, kept
    assert not [n for n in recorder.notes if "did not answer" in n]


def test_a_second_follower_does_not_store_lines_twice(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    create_job(store)
    t = T0.timestamp()
    events = [(1, STREAM_1, t + 1, "epoch 1 loss=0.5"), (1, STREAM_2, t + 1.5, "worker"),
              (2, STREAM_1, t + 2, "epoch 2 loss=0.4"), (3, STREAM_1, t + 3, "epoch 3 loss=0.3"),
              (3, STREAM_2, t + 3.5, "worker done")]
    first = FakeCloud([described("InProgress", "Training", 3),
                       described("InProgress", "Training", 3), KeyboardInterrupt()], events)
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C: the job goes on running in the cloud
        follower(store, first, FakeClock(), Recorder(store, monkeypatch)).follow()
    assert [x[3] for x in lines(store)] == ["epoch 1 loss=0.5", "worker", "epoch 2 loss=0.4"]

    # train --resume, in another process: a store of its own on the same home
    again = Store(tmp_path / "home")
    try:
        recorder = Recorder(again, monkeypatch)
        second = FakeCloud([described("InProgress", "Training", 3),
                            described("Completed", "Completed", 4)],
                           [(1, s, ts, line) for _, s, ts, line in events], page=2)
        final = follower(again, second, FakeClock(), recorder).follow()
    finally:
        again.close()
    assert final["TrainingJobStatus"] == "Completed"
    by_host = sorted(lines(store), key=lambda x: x[0])  # (each host's lines in their order)
    assert by_host == [(HOST_1, "stdout", t + 1, "epoch 1 loss=0.5"),
                       (HOST_1, "stdout", t + 2, "epoch 2 loss=0.4"),
                       (HOST_1, "stdout", t + 3, "epoch 3 loss=0.3"),
                       (HOST_2, "stdout", t + 1.5, "worker"),
                       (HOST_2, "stdout", t + 3.5, "worker done")]
    assert sorted(recorder.echoed) == [(HOST_1, "stdout", "epoch 3 loss=0.3"),
                                       (HOST_2, "stdout", "worker done")]
    assert store.metric_series(JOB) == {"train:loss": [(t + 1, 0.5), (t + 2, 0.4),
                                                       (t + 3, 0.3)]}


def test_a_job_recorded_as_ended_only_gets_its_logs_read(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    create_job(store, status="Completed")
    before = store.record(JOB)
    recorder = Recorder(store, monkeypatch)
    t = T0.timestamp()
    cloud = FakeCloud([AssertionError("an ended job is not described again")],
                      [(1, STREAM_1, t + 1, "epoch 1 loss=0.5"),
                       (1, STREAM_1, t + 2, "epoch 2 loss=0.4"),
                       (1, STREAM_1, t + 3, "bye")], page=2)
    final = follower(store, cloud, FakeClock(), recorder).follow()
    assert final == before == store.record(JOB)
    assert cloud.describes == 0 and recorder.saved == [] and recorder.notes == []
    assert [x[3] for x in lines(store)] == ["epoch 1 loss=0.5", "epoch 2 loss=0.4", "bye"]
    assert [v for _, v in store.metric_series(JOB)["train:loss"]] == [0.5, 0.4]


def test_a_transient_error_in_the_drain_is_waited_out(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    create_job(store)
    recorder = Recorder(store, monkeypatch)
    t = T0.timestamp()
    cloud = FakeCloud([described("Completed", "Completed", 4)],
                      [(1, STREAM_1, t + 1, "epoch 1 loss=0.5"),
                       (2, STREAM_1, t + 2, "late line")])
    throttled = CloudError("ThrottlingException in GetLogEvents: Rate exceeded",
                           "ThrottlingException", transient=True)
    log_events = cloud.log_events
    calls = 0

    def throttled_once(stream: str, token: str | None) -> tuple[list[tuple[float, str]], str]:
        nonlocal calls
        calls += 1
        if calls == 2:  # the drain's first page
            raise throttled
        return log_events(stream, token)

    monkeypatch.setattr(cloud, "log_events", throttled_once)
    final = follower(store, cloud, FakeClock(), recorder).follow()
    assert final["TrainingJobStatus"] == "Completed"
    assert store.record(JOB)["TrainingJobStatus"] == "Completed"
    assert [x[3] for x in lines(store)] == ["epoch 1 loss=0.5", "late line"]


def test_a_second_follower_with_two_streams_of_one_host(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    create_job(store)
    t = T0.timestamp()
    restarted = f"{JOB}/algo-1-1700000500"  # the same host's stream after a restart
    events = [(1, STREAM_1, t + 1, "a1"), (1, STREAM_1, t + 2, "a2"),
              (1, restarted, t + 501, "b1"), (1, restarted, t + 502, "b2")]
    first = FakeCloud([described("InProgress", "Training", 3), KeyboardInterrupt()], events,
                      page=1)
    with pytest.raises(KeyboardInterrupt):
        follower(store, first, FakeClock(), Recorder(store, monkeypatch)).follow()
    assert [x[3] for x in lines(store)] == ["a1", "b1"]  # one page of each stream
    again = Store(tmp_path / "home")
    try:
        second = FakeCloud([described("Completed", "Completed", 4)], events, page=2)
        follower(again, second, FakeClock(), Recorder(again, monkeypatch)).follow()
    finally:
        again.close()
    assert sorted(x[3] for x in lines(store)) == ["a1", "a2", "b1", "b2"]


def test_a_page_of_lines_stored_before_does_not_end_the_drain(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """An import of an ended job stopped half-way, followed again: its first page is all
    lines stored already, and the drain goes on to the lines after them."""
    create_job(store, status="Completed")
    t = T0.timestamp()
    store.add_logs(JOB, [("algo-1-1700000000", "stdout", t + 1, "a"),
                         ("algo-1-1700000000", "stdout", t + 2, "b")])
    cloud = FakeCloud([AssertionError("not described")],
                      [(1, STREAM_1, t + i, line) for i, line in enumerate("abcde", start=1)],
                      page=2)
    follower(store, cloud, FakeClock(), Recorder(store, monkeypatch)).follow()
    assert [x[3] for x in lines(store)] == ["a", "b", "c", "d", "e"]
