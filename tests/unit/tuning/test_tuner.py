"""The whole tuning loop (``Tuner`` over ``LocalTrials`` and ``TrainingRun``) on the fake engine
and a fake clock: every trial a training job with its config files, logs, metrics and
artifacts, in well under a second of real time."""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Any

import pytest

from runner.api.local_trials import LocalTrials, local_tuner
from runner.core.clock import FakeClock
from runner.core.specs import LocalOptions, Spec
from runner.engines.fake import FakeBackend, FakeContainer
from runner.store.jobs import Store
from runner.store.tuning import TuningStore
from runner.training.context import RunContext
from runner.tuning.trial_backend import TrialEvent
from runner.tuning.tuner import Tuner

IMAGE = "fake/quadratic:latest"


def quadratic(box: FakeContainer) -> int:
    """loss = (x - 3)^2 + 1/epoch, one epoch a simulated minute; honours SIGTERM."""
    hps = box.hyperparameters()
    x, epochs = float(hps["x"]), int(hps.get("epochs", "4"))
    if hps.get("fail") == "yes":
        (box.path("/opt/ml/output") / "failure").write_text("ValueError: x is cursed")
        return 2
    for epoch in range(1, epochs + 1):
        if box.sleep(60):
            box.print("terminated")
            return 143
        box.print(f"epoch {epoch} loss={(x - 3) ** 2 + 1 / epoch:.6f}")
    (box.path("/opt/ml/model") / "x.txt").write_text(str(x))
    return 0


def request(tmp_path: Path, **config: Any) -> dict[str, Any]:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "rows.csv").write_text("1,2\n")
    out: dict[str, Any] = {
        "HyperParameterTuningJobName": "fake-tuning",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {"ContinuousParameterRanges": [
                {"Name": "x", "MinValue": "0", "MaxValue": "6", "ScalingType": "Linear"}]},
            "RandomSeed": 3,
            **config,
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"epochs": "4"},
            "AlgorithmSpecification": {
                "TrainingImage": IMAGE, "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "loss", "Regex": "loss=(\\S+)"}],
            },
            "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
            "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"file://{tmp_path / 'data'}"}}}],
            "OutputDataConfig": {"S3OutputPath": f"file://{tmp_path / 'output'}"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                               "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
    }
    return out


class World:
    """A store, a fake engine and a fake clock under ``tmp_path``."""

    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock()
        self.store = Store(tmp_path / "home")
        self.backend = FakeBackend(tmp_path / "engine", {IMAGE: quadratic}, self.clock)
        self.ctx = RunContext(store=self.store, backend=self.backend, clock=self.clock)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.tmp_path = tmp_path

    def tuner(self, req: dict[str, Any]) -> Tuner:
        spec = Spec(copy.deepcopy(req), LocalOptions(stop_grace_seconds=30), self.tmp_path)
        return local_tuner(spec, self.ctx, lambda kind, data: self.events.append((kind, data)))

    def run(self, req: dict[str, Any]) -> dict[str, Any]:
        tuner = self.tuner(req)
        tuner.create()
        return tuner.run()

    def jobs(self) -> list[dict[str, Any]]:
        return self.store.list_training_jobs(tuning_job="fake-tuning")


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_a_whole_tuning_job_runs_on_the_fake_engine(world: World, tmp_path: Path) -> None:
    started = time.monotonic()
    record = world.run(request(tmp_path))
    assert time.monotonic() - started < 10  # hours of simulated training, in real seconds
    assert record["HyperParameterTuningJobStatus"] == "Completed"
    jobs = world.jobs()
    assert len(jobs) == 6 and {j["TrainingJobStatus"] for j in jobs} == {"Completed"}
    for job in jobs:  # each trial a training job under the contract: its artifacts and metrics
        x = float(job["HyperParameters"]["x"])
        final = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
        assert math.isclose(final["loss"], (x - 3) ** 2 + 0.25, abs_tol=1e-5)
        assert job["HyperParameters"]["_tuning_objective_metric"] == "loss"
        assert (tmp_path / "output" / job["TrainingJobName"] / "output" / "model.tar.gz").is_file()
    assert len(world.backend.started) == 6
    objectives = [data for kind, data in world.events if kind == "objective"]
    assert len(objectives) == 6 * 4  # every epoch's value reached the tuner, in order
    ended = [data for kind, data in world.events if kind == "trial-ended"]
    assert sorted(d["trial"] for d in ended) == [1, 2, 3, 4, 5, 6]


def test_never_more_trials_at_once_than_max_parallel(world: World, tmp_path: Path) -> None:
    seen = []
    original = world.backend.start

    def start(spec: Any) -> str:
        seen.append(len(world.backend.running()))
        return original(spec)

    world.backend.start = start  # type: ignore[method-assign]
    world.run(request(tmp_path,
                      ResourceLimits={"MaxNumberOfTrainingJobs": 5, "MaxParallelTrainingJobs": 2}))
    assert len(seen) == 5 and max(seen) <= 1  # at most one other running when a trial starts


def test_early_stopping_stops_bad_trials(world: World, tmp_path: Path) -> None:
    req = request(tmp_path, TrainingJobEarlyStoppingType="Auto",
                  ResourceLimits={"MaxNumberOfTrainingJobs": 12, "MaxParallelTrainingJobs": 1})
    req["TrainingJobDefinition"]["StaticHyperParameters"]["epochs"] = "12"
    record = world.run(req)
    assert record["HyperParameterTuningJobStatus"] == "Completed"
    statuses = [j["TrainingJobStatus"] for j in world.jobs()]
    assert "Stopped" in statuses and "Completed" in statuses
    assert any(kind == "trial-early-stopped" for kind, _ in world.events)


def test_the_tuning_jobs_max_runtime_ends_it_through_the_clock(
    world: World, tmp_path: Path
) -> None:
    req = request(tmp_path,
                  ResourceLimits={"MaxNumberOfTrainingJobs": 50, "MaxParallelTrainingJobs": 2,
                                            "MaxRuntimeInSeconds": 600})
    req["TrainingJobDefinition"]["StaticHyperParameters"]["epochs"] = "100"  # 100 simulated minutes
    started = time.monotonic()
    record = world.run(req)
    assert time.monotonic() - started < 20
    assert record["HyperParameterTuningJobStatus"] == "Completed"
    assert {j["TrainingJobStatus"] for j in world.jobs()} == {"Stopped"}
    assert ("completion", {"reason": "MaxRuntimeInSeconds reached"}) in world.events


def test_a_stop_request_stops_the_job_and_its_trials(world: World, tmp_path: Path) -> None:
    req = request(tmp_path)
    req["TrainingJobDefinition"]["StaticHyperParameters"]["epochs"] = "1000"
    tuner = world.tuner(req)
    tuner.create()
    stopper = TuningStore(world.store)

    def listener(kind: str, data: dict[str, Any]) -> None:
        if kind == "objective":
            stopper.request_stop("fake-tuning", world.clock.now())

    tuner.listener = listener
    record = tuner.run()
    assert record["HyperParameterTuningJobStatus"] == "Stopped"
    assert {j["TrainingJobStatus"] for j in world.jobs()} == {"Stopped"}
    assert world.backend.running() == []


def test_all_trials_failing_fails_the_tuning_job(world: World, tmp_path: Path) -> None:
    req = request(tmp_path,
                  ResourceLimits={"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 3})
    req["TrainingJobDefinition"]["StaticHyperParameters"]["fail"] = "yes"
    record = world.run(req)
    assert record["HyperParameterTuningJobStatus"] == "Failed"
    assert all(j["FailureReason"] == "ValueError: x is cursed" for j in world.jobs())


def test_an_infrastructure_failure_is_retried(world: World, tmp_path: Path) -> None:
    calls = []

    def flaky(box: FakeContainer) -> int:
        calls.append(1)
        if len(calls) == 1:
            box.kill_from_outside()  # as `docker kill` would: the platform's fault, retried
            return 0
        return quadratic(box)

    world.backend.programs = {IMAGE: flaky}
    req = request(tmp_path,
                  ResourceLimits={"MaxNumberOfTrainingJobs": 1, "MaxParallelTrainingJobs": 1})
    req["TrainingJobDefinition"]["RetryStrategy"] = {"MaximumRetryAttempts": 2}
    record = world.run(req)
    jobs = sorted(world.jobs(), key=lambda j: j["CreationTime"])
    assert record["HyperParameterTuningJobStatus"] == "Completed"
    assert [j["TrainingJobStatus"] for j in jobs] == ["Failed", "Completed"]
    assert jobs[0]["FailureReason"].startswith(
        "InternalServerError: the container was killed from outside")


class CountingTrials(LocalTrials):
    """LocalTrials that counts what the tuner reads back."""

    describes = 0
    values_read = 0

    def describe(self, job: str) -> dict[str, Any] | None:
        self.describes += 1
        return super().describe(job)

    def metric_values(self, job: str, metric: str) -> list[float]:
        self.values_read += 1
        return super().metric_values(job, metric)


def test_history_is_kept_not_rebuilt_per_event(world: World, tmp_path: Path) -> None:
    req = request(tmp_path, TrainingJobEarlyStoppingType="Auto",
                  ResourceLimits={"MaxNumberOfTrainingJobs": 10, "MaxParallelTrainingJobs": 2})
    req["TrainingJobDefinition"]["StaticHyperParameters"]["epochs"] = "10"
    spec = Spec(req, LocalOptions(stop_grace_seconds=30), tmp_path)
    trials = CountingTrials(spec, world.ctx, "fake-tuning")
    tuner = Tuner(spec, world.store, trials, world.clock)
    tuner.create()
    tuner.run()
    events = sum(len(world.store.metric_series(j["TrainingJobName"])["loss"]) for j in world.jobs())
    assert events >= 10 * 3  # (rebuilding the history per event read back ~2 x trials each)
    # each ended trial is read back a bounded number of times, whatever the number of events
    assert trials.describes <= 4 * 10 and trials.values_read <= 10


def test_trial_events_come_in_order_and_end_once(world: World, tmp_path: Path) -> None:
    req = request(tmp_path)
    spec = Spec(copy.deepcopy(req), LocalOptions(), tmp_path)
    trials = LocalTrials(spec, world.ctx, "fake-tuning")
    job_request = {k: copy.deepcopy(v) for k, v in req["TrainingJobDefinition"].items()
                   if k not in ("StaticHyperParameters",)}
    job_request.update(TrainingJobName="one-trial", HyperParameters={"x": "1", "epochs": "3"})
    trials.start(job_request, "loss")
    assert trials.describe("one-trial") is not None  # created when start returns
    events: list[TrialEvent] = []
    while not any(e.ended for e in events):
        events.extend(trials.poll(1.0))
    assert ([e.value for e in events if not e.ended]
            == pytest.approx([5.0, 4.5, 4.0 + 1 / 3], abs=1e-5))
    assert events[-1] == TrialEvent("one-trial", ended=True)
    assert trials.poll(0.5) == []
    assert (trials.metric_values("one-trial", "loss")
            == pytest.approx([5.0, 4.5, 4.0 + 1 / 3], abs=1e-5))
    assert trials.describe("never-made") is None


def test_a_bug_while_handling_a_trials_end_fails_the_job_and_stops_the_rest(
    world: World, tmp_path: Path
) -> None:
    req = request(tmp_path,
                  ResourceLimits={"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2})
    tuner = world.tuner(req)
    original = tuner._handle

    def broken(event: TrialEvent) -> None:
        if event.ended:
            raise RuntimeError("boom")
        original(event)

    tuner._handle = broken  # type: ignore[method-assign]
    tuner.create()
    with pytest.raises(RuntimeError, match="boom"):
        tuner.run()  # returns: the end it lost is not waited for
    record = TuningStore(world.store).record("fake-tuning")
    assert record["HyperParameterTuningJobStatus"] == "Failed"
    assert record["FailureReason"] == "InternalServerError: smlocal failed: RuntimeError: boom"
    assert len(world.jobs()) == 2 and world.backend.running() == []


def test_a_trial_that_cannot_start_fails_the_job_without_hanging(
    world: World, tmp_path: Path
) -> None:
    tuner = world.tuner(request(tmp_path, ResourceLimits={"MaxNumberOfTrainingJobs": 4,
                                                          "MaxParallelTrainingJobs": 2}))
    original = tuner.trials.start
    calls = []

    def start(req: dict[str, Any], metric: str) -> None:
        calls.append(req["TrainingJobName"])
        if len(calls) == 2:
            raise RuntimeError("database is locked")
        original(req, metric)

    tuner.trials.start = start  # type: ignore[method-assign]
    tuner.create()
    with pytest.raises(RuntimeError, match="database is locked"):
        tuner.run()  # returns: the trial that never started is not waited for
    record = TuningStore(world.store).record("fake-tuning")
    assert record["HyperParameterTuningJobStatus"] == "Failed"
    assert record["FailureReason"].endswith("RuntimeError: database is locked")
    assert world.backend.running() == []
