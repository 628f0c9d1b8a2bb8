"""Trials on SageMaker (runner.api.cloud_trials): the tuner runs here over ``CloudTrials`` and
``CloudJobs`` on a real store and a fake clock, against an in-memory SageMaker whose jobs run
over time (one epoch per DescribeTrainingJob, a ``loss=`` line each on their CloudWatch stream)
and end Completed, or Stopped when told to stop."""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.api import builtin
from runner.api.cloud_jobs import CloudJobs
from runner.api.cloud_trials import CloudTrials, cloud_trial_problems, cloud_tuner
from runner.aws.sagemaker import CloudError, Place
from runner.core.clock import FakeClock
from runner.core.specs import Spec, spec_from_dict
from runner.shapes.status import tuning_job_arn
from runner.shapes.training_jobs import cloud_place
from runner.store.jobs import Store
from runner.store.tuning import TuningStore
from runner.tuning.describe import describe_tuning_job
from runner.tuning.records import trial_views
from runner.tuning.trial_backend import TrialEvent
from runner.tuning.trial_jobs import trial_job_name
from runner.tuning.tuner import Tuner
from tests.unit.api.test_cloud_tuning import definition

NAME = "cloud-tuning"
ARN = tuning_job_arn(NAME)
ECR_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/demo:1"
CLOUD_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlp:pushed"
BUILTIN_IMAGE = "smlocal/mlp:latest"
PLACE = Place("us-east-1", "http://fake-sagemaker.test")
CREATED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
METRIC = "train:loss"
LOSS = {"Name": METRIC, "Regex": r"loss=(\S+)"}
NOT_FOUND = "ValidationException"  # what SageMaker answers for a job it does not know
RUN_SECONDS = 60.0  # real seconds a tuning job may take before the test fails


def loss(x: float, epoch: int) -> float:
    """What a job with hyperparameter ``x`` logs at ``epoch``: best at x = 3."""
    return (x - 3) ** 2 + 1 / epoch


def stream_of(job: str) -> str:
    return f"{job}/algo-1-1700000000"


@dataclass
class SimJob:
    """One training job on the simulated SageMaker."""

    request: dict[str, Any]
    created: datetime
    describes: int = 0
    status: str = "InProgress"
    stop_asked: bool = False
    lines: list[tuple[float, str]] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


class SimulatedCloud:
    """SageMakerCloud's calls, in memory and thread-safe. A created job emits one epoch
    (``loss=<value>``, from its HyperParameters' ``x``) per DescribeTrainingJob and ends
    Completed after ``epochs`` of them (``epochs`` None: it runs until stopped); a stopped job
    ends Stopped at the next DescribeTrainingJob. ``refuse``: the CloudError CreateTrainingJob
    raises for a job name."""

    def __init__(self, epochs: int | None = 3, place: Place = PLACE) -> None:
        self.epochs = epochs
        self._place = place
        self._lock = threading.Lock()
        self.jobs: dict[str, SimJob] = {}
        self.attempts: list[str] = []  # every CreateTrainingJob's TrainingJobName
        self.created: list[dict[str, Any]] = []  # the requests it accepted, in order
        self.stopped: list[str] = []  # every StopTrainingJob's name
        self.refuse: dict[str, CloudError] = {}
        # names created by an earlier runner that died before recording them: the first
        # create stores the job (with this creation time) and answers ResourceInUse
        self.created_before: dict[str, datetime] = {}

    def place(self) -> Place:
        return self._place

    def seed(self, name: str, request: dict[str, Any], created: datetime) -> None:
        """A job created on SageMaker by some earlier process."""
        self.jobs[name] = SimJob(copy.deepcopy(request), created)

    def create_training_job(self, request: dict[str, Any]) -> str:
        name = request["TrainingJobName"]
        with self._lock:
            self.attempts.append(name)
            if name in self.refuse:
                raise self.refuse[name]
            if name in self.created_before:
                self.jobs[name] = SimJob(copy.deepcopy(request), self.created_before.pop(name))
            if name in self.jobs:
                raise CloudError(f"ResourceInUse in CreateTrainingJob: Training job {name} "
                                 "already exists", "ResourceInUse", transient=False)
            self.jobs[name] = SimJob(copy.deepcopy(request), CREATED)
            self.created.append(copy.deepcopy(request))
        return arn(name)

    def describe_training_job(self, name: str) -> dict[str, Any]:
        with self._lock:
            job = self.jobs.get(name)
            if job is None:
                raise CloudError(f"{NOT_FOUND} in DescribeTrainingJob: Requested resource not "
                                 "found.", NOT_FOUND, transient=False)
            job.describes += 1
            if job.status == "InProgress":
                if job.stop_asked:
                    job.status = "Stopped"
                elif self.epochs is not None and job.describes > self.epochs:
                    job.status = "Completed"
                else:
                    self._emit(job)
            return self._answer(name, job)

    def stop_training_job(self, name: str) -> None:
        with self._lock:
            self.stopped.append(name)
            job = self.jobs.get(name)
            if job is None or job.status != "InProgress":
                raise CloudError(f"{NOT_FOUND} in StopTrainingJob: the job {name} is not "
                                 "InProgress", NOT_FOUND, transient=False)
            job.stop_asked = True

    def log_streams(self, job: str) -> list[str]:
        with self._lock:
            sim = self.jobs.get(job)
            return [stream_of(job)] if sim is not None and sim.lines else []

    def log_events(self, stream: str, token: str | None) -> tuple[list[tuple[float, str]], str]:
        with self._lock:
            lines = self.jobs[stream.rpartition("/")[0]].lines
            start = int(token.removeprefix("f/")) if token else 0
            return list(lines[start:]), f"f/{len(lines)}"

    # -- helpers -------------------------------------------------------------------------------
    def _emit(self, job: SimJob) -> None:
        epoch = len(job.values) + 1
        value = loss(float(job.request["HyperParameters"]["x"]), epoch)
        job.values.append(value)
        job.lines.append((job.created.timestamp() + 60 * epoch, f"epoch {epoch} loss={value!r}"))

    def _answer(self, name: str, job: SimJob) -> dict[str, Any]:
        answer: dict[str, Any] = {
            **copy.deepcopy(job.request), "TrainingJobName": name, "TrainingJobArn": arn(name),
            "TrainingJobStatus": job.status,
            "SecondaryStatus": "Training" if job.status == "InProgress" else job.status,
            "CreationTime": job.created,
            "LastModifiedTime": job.created + timedelta(seconds=60 * job.describes),
            "SecondaryStatusTransitions": [],
        }
        if job.status != "InProgress":
            answer["TrainingEndTime"] = answer["LastModifiedTime"]
            if job.values:  # as SageMaker gives them: each metric's last value
                answer["FinalMetricDataList"] = [{"MetricName": METRIC, "Value": job.values[-1],
                                                  "Timestamp": answer["LastModifiedTime"]}]
        return answer


def arn(name: str) -> str:
    return f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"


def tuning_data(max_jobs: int = 4, parallel: int = 2, image: str = ECR_IMAGE,
                local: dict[str, Any] | None = None, **config: Any) -> dict[str, Any]:
    """A CreateHyperParameterTuningJob request (and its Local section) for trials on SageMaker."""
    return {
        "HyperParameterTuningJobName": NAME,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": METRIC},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": max_jobs,
                               "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": {"ContinuousParameterRanges": [
                {"Name": "x", "MinValue": "0", "MaxValue": "6", "ScalingType": "Linear"}]},
            "RandomSeed": 7,
            **config,
        },
        "TrainingJobDefinition": definition(image),
        "Local": {"TrialsOn": "sagemaker", **(local or {})},
    }


class World:
    """A store, a fake clock, the simulated SageMaker and CloudJobs over them."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.clock = FakeClock()
        self.store = Store(tmp_path / "home")
        self.cloud = SimulatedCloud()
        self.notes: list[str] = []
        self.jobs = CloudJobs(self.store, notify=self.notes.append, clock=self.clock,
                              interval=1.0)
        self.jobs.__dict__["cloud"] = self.cloud  # (a functools.cached_property)
        self.events: list[tuple[str, dict[str, Any]]] = []

    def spec(self, data: dict[str, Any]) -> Spec:
        return spec_from_dict(copy.deepcopy(data), self.tmp_path)

    def tuner(self, data: dict[str, Any]) -> Tuner:
        return cloud_tuner(self.spec(data), self.jobs,
                           lambda kind, event: self.events.append((kind, event)))

    def run(self, data: dict[str, Any]) -> dict[str, Any]:
        tuner = self.tuner(data)
        tuner.create()
        return run_bounded(tuner)

    def trials(self) -> list[dict[str, Any]]:
        return self.store.list_training_jobs(tuning_job=NAME)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [event for k, event in self.events if k == kind]

    def describe(self) -> dict[str, Any]:
        tstore = TuningStore(self.store)
        return describe_tuning_job(tstore.record(NAME), trial_views(self.store, tstore, NAME),
                                   self.clock.now())


def run_bounded(tuner: Tuner, seconds: float = RUN_SECONDS) -> dict[str, Any]:
    """``tuner.run()`` on a thread of its own (the tuner's one caller), failing the test
    rather than hanging it when the job does not end within ``seconds`` of real time."""
    out: dict[str, Any] = {}

    def target() -> None:
        try:
            out["record"] = tuner.run()
        except BaseException as exc:  # handed to the test's thread
            out["error"] = exc

    thread = threading.Thread(target=target, name="tuner", daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the tuning job did not end within {seconds:g} s"
    if "error" in out:
        raise out["error"]
    record: dict[str, Any] = out["record"]
    return record


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = World(tmp_path)
    yield world
    world.store.close()


def final_loss(record: dict[str, Any]) -> float:
    return float(next(m["Value"] for m in record["FinalMetricDataList"]
                      if m["MetricName"] == METRIC))


# -- the whole loop ----------------------------------------------------------------------------
def test_every_trial_runs_on_sagemaker_and_the_best_one_wins(world: World) -> None:
    record = world.run(tuning_data(max_jobs=4, parallel=2))
    assert record["HyperParameterTuningJobStatus"] == "Completed"
    names = [trial_job_name(NAME, n) for n in range(1, 5)]
    cloud = world.cloud
    assert sorted(r["TrainingJobName"] for r in cloud.created) == names
    assert sorted(cloud.attempts) == names and cloud.stopped == []
    rows = {row.job_name: row for row in TuningStore(world.store).trials(NAME)}
    for sent in cloud.created:  # the tuned hyperparameter, as the tuner chose it
        hps = sent["HyperParameters"]
        assert math.isclose(float(hps["x"]), rows[sent["TrainingJobName"]].config["x"])
        assert 0 <= float(hps["x"]) <= 6
        assert hps["epochs"] == "3" and hps["_tuning_objective_metric"] == METRIC
        assert sent["AlgorithmSpecification"]["TrainingImage"] == ECR_IMAGE
        assert sent["AlgorithmSpecification"]["MetricDefinitions"] == [LOSS]
    assert len({r["HyperParameters"]["x"] for r in cloud.created}) == 4

    trials = world.trials()
    assert sorted(t["TrainingJobName"] for t in trials) == names
    for trial in trials:
        name = trial["TrainingJobName"]
        x = float(trial["HyperParameters"]["x"])
        assert trial["TrainingJobStatus"] == "Completed"
        assert trial["TuningJobArn"] == ARN
        assert cloud_place(trial) == PLACE.to_record()
        assert world.jobs.is_cloud_job(name)
        assert math.isclose(final_loss(trial), loss(x, 3))
        # its CloudWatch lines stored, and the objective scraped from them
        assert [line.host for line in world.store.iter_logs(name)] == ["algo-1-1700000000"] * 3
        assert [v for _, v in world.store.metric_series(name)[METRIC]] == \
            [loss(x, e) for e in (1, 2, 3)]
        request, local = world.store.request(name)
        assert request["TrainingJobName"] == name and local == {"Backend": "sagemaker"}
    objectives = world.of_kind("objective")
    assert len(objectives) == 4 * 3  # every epoch's value reached the tuner
    assert sorted(e["trial"] for e in world.of_kind("trial-ended")) == [1, 2, 3, 4]

    best = min(trials, key=final_loss)
    described = world.describe()
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["BestTrainingJob"]["TrainingJobName"] == best["TrainingJobName"]
    assert math.isclose(
        described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
        final_loss(best))
    assert described["TrainingJobStatusCounters"]["Completed"] == 4


def test_never_more_trials_on_sagemaker_at_once_than_max_parallel(world: World) -> None:
    running: list[int] = []
    create = world.cloud.create_training_job

    def counting(request: dict[str, Any]) -> str:
        running.append(sum(j.status == "InProgress" for j in world.cloud.jobs.values()))
        return create(request)

    world.cloud.create_training_job = counting  # type: ignore[method-assign]
    record = world.run(tuning_data(max_jobs=5, parallel=2))
    assert record["HyperParameterTuningJobStatus"] == "Completed"
    assert len(running) == 5 and max(running) <= 1  # at most one other running at a create


def test_the_cloud_image_replaces_every_trials_training_image(world: World) -> None:
    assert BUILTIN_IMAGE in builtin.manifests(), "the MLP's manifest was not found"
    data = tuning_data(max_jobs=3, image=BUILTIN_IMAGE, local={"CloudImage": CLOUD_IMAGE})
    given = copy.deepcopy(data)
    spec = world.spec(data)
    assert cloud_trial_problems(spec) == []
    record = world.run(data)
    assert record["HyperParameterTuningJobStatus"] == "Completed"
    assert len(world.cloud.created) == 3
    for sent in world.cloud.created:
        assert sent["AlgorithmSpecification"]["TrainingImage"] == CLOUD_IMAGE
        assert sent["AlgorithmSpecification"]["MetricDefinitions"] == [LOSS]
        request, _ = world.store.request(sent["TrainingJobName"])
        assert request["AlgorithmSpecification"]["TrainingImage"] == CLOUD_IMAGE
    assert data == given
    stored, local = TuningStore(world.store).request(NAME)  # the tuning job keeps its own
    assert stored["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"] == \
        BUILTIN_IMAGE
    assert local["CloudImage"] == CLOUD_IMAGE


# -- SageMaker's refusals, jobs it has already ---------------------------------------------------
def refusal() -> CloudError:
    return CloudError("ResourceLimitExceeded in CreateTrainingJob: The account-level service "
                      "limit 'ml.m5.large for training job usage' is 2 Instances",
                      "ResourceLimitExceeded", transient=False)


def test_a_trial_sagemaker_refuses_is_recorded_failed_and_retried_as_the_platforms(
        world: World) -> None:
    """A limit is the platform's failure, not the configuration's: recorded Failed as an
    InternalServerError, a RetryableError (kept out of the search's model; RetryStrategy
    retries it under a new name)."""
    refused = trial_job_name(NAME, 2)
    world.cloud.refuse[refused] = refusal()
    record = world.run(tuning_data(max_jobs=4, parallel=2))
    assert record["HyperParameterTuningJobStatus"] == "Completed"
    assert world.cloud.attempts.count(refused) == 1  # not asked again under that name
    assert refused not in world.cloud.jobs and refused not in world.cloud.stopped
    failed = world.store.record(refused)
    assert failed["TrainingJobStatus"] == "Failed"
    assert failed["FailureReason"].startswith("InternalServerError: SageMaker refused it: ")
    assert "ResourceLimitExceeded" in failed["FailureReason"]
    assert failed["TuningJobArn"] == ARN
    described = world.describe()
    assert described["TrainingJobStatusCounters"]["RetryableError"] == 1
    assert described["TrainingJobStatusCounters"]["Completed"] == 3


def test_a_request_sagemaker_finds_invalid_counts_against_its_configuration(
        world: World) -> None:
    refused = trial_job_name(NAME, 1)
    world.cloud.refuse[refused] = CloudError("ValidationException in CreateTrainingJob: no",
                                             "ValidationException", transient=False)
    record = world.run(tuning_data(max_jobs=2, parallel=1))
    assert record["HyperParameterTuningJobStatus"] == "Completed"
    failed = world.store.record(refused)
    assert failed["FailureReason"].startswith("ClientError: SageMaker refused it: ")
    described = world.describe()
    assert described["TrainingJobStatusCounters"]["NonRetryableError"] == 1
    assert described["BestTrainingJob"]["TrainingJobName"] == trial_job_name(NAME, 2)


def test_every_trial_refused_as_invalid_fails_the_tuning_job(world: World) -> None:
    for number in (1, 2):
        world.cloud.refuse[trial_job_name(NAME, number)] = CloudError(
            "ValidationException in CreateTrainingJob: no", "ValidationException",
            transient=False)
    record = world.run(tuning_data(max_jobs=2, parallel=2))
    assert record["HyperParameterTuningJobStatus"] == "Failed"
    assert {t["TrainingJobStatus"] for t in world.trials()} == {"Failed"}
    assert world.cloud.created == []


def test_a_name_sagemaker_has_with_other_hyperparameters_is_not_taken_over(
        world: World) -> None:
    """A trial of an earlier tuning job of the same name (SageMaker never frees a name): not
    this trial's job, and never followed as if it were: refused as the platform's failure."""
    name = trial_job_name(NAME, 1)
    world.cloud.seed(name, {"TrainingJobName": name, "HyperParameters": {"x": "-99"}},
                     CREATED - timedelta(days=3))
    record = world.run(tuning_data(max_jobs=2, parallel=1))
    assert record["HyperParameterTuningJobStatus"] == "Completed"
    refused = world.store.record(name)
    assert refused["TrainingJobStatus"] == "Failed"
    assert "other hyperparameters" in refused["FailureReason"]
    assert refused["FailureReason"].startswith("InternalServerError: ")
    assert world.store.metric_series(name) == {}  # the old job's values never came in
    assert world.cloud.stopped == []  # nor was it stopped
    assert world.store.record(trial_job_name(NAME, 2))["TrainingJobStatus"] == "Completed"


def test_a_trial_sagemaker_has_already_is_recorded_and_followed_not_created_again(
        world: World) -> None:
    """Created by a runner that died before recording it: the same request, so the same
    hyperparameters; recorded as SageMaker describes it and followed."""
    name = trial_job_name(NAME, 1)
    earlier = CREATED - timedelta(hours=1)
    world.cloud.created_before[name] = earlier
    record = world.run(tuning_data(max_jobs=3, parallel=2))
    assert record["HyperParameterTuningJobStatus"] == "Completed"
    assert world.cloud.attempts.count(name) == 1  # tried once (ResourceInUse), never again
    assert name not in [r["TrainingJobName"] for r in world.cloud.created]
    trial = world.store.record(name)
    assert trial["TrainingJobStatus"] == "Completed"
    assert trial["CreationTime"] == earlier.timestamp()  # as SageMaker describes it
    assert trial["TuningJobArn"] == ARN and cloud_place(trial) == PLACE.to_record()
    assert len(world.store.metric_series(name)[METRIC]) == 3
    assert len(world.trials()) == 3
    ended = {e["job"] for e in world.of_kind("trial-ended")}
    assert name in ended


# -- stopping ------------------------------------------------------------------------------------
def test_stopping_the_tuning_job_stops_its_trials_on_sagemaker(world: World) -> None:
    world.cloud.epochs = None  # the trials run until stopped
    tuner = world.tuner(tuning_data(max_jobs=6, parallel=2))
    tuner.create()
    stopper = TuningStore(world.store)

    def listener(kind: str, event: dict[str, Any]) -> None:
        world.events.append((kind, event))
        if kind == "objective":
            stopper.request_stop(NAME, world.clock.now())

    tuner.listener = listener
    record = run_bounded(tuner)
    assert record["HyperParameterTuningJobStatus"] == "Stopped"
    running = [trial_job_name(NAME, n) for n in (1, 2)]
    assert sorted(world.cloud.attempts) == running  # no trial started after the stop
    assert sorted(world.cloud.stopped) == running  # each one StopTrainingJob, once
    assert {t["TrainingJobName"]: t["TrainingJobStatus"] for t in world.trials()} == \
        dict.fromkeys(running, "Stopped")
    assert ("status", {"status": "Stopping"}) in world.events


def test_early_stopping_sends_stop_training_job(world: World) -> None:
    world.cloud.epochs = 30  # long enough for a stop to arrive before the job completes
    data = tuning_data(max_jobs=8, parallel=1, TrainingJobEarlyStoppingType="Auto")
    record = world.run(data)
    assert record["HyperParameterTuningJobStatus"] == "Completed"
    early = [e["job"] for e in world.of_kind("trial-early-stopped")]
    assert early, "no trial was early-stopped: the test's values need another seed"
    assert world.cloud.stopped == early  # what the scheduler decided, sent to SageMaker
    statuses = {t["TrainingJobName"]: t["TrainingJobStatus"] for t in world.trials()}
    assert {statuses[job] for job in early} == {"Stopped"}
    assert "Completed" in statuses.values()


def test_stopping_a_trial_that_ended_on_sagemaker_does_nothing(world: World) -> None:
    trials = CloudTrials(world.jobs, NAME, ARN, None)
    trials.stop("never-created")  # SageMaker's ValidationException: nothing to stop
    assert world.cloud.stopped == ["never-created"]


# -- the port's rules, CloudTrials alone ---------------------------------------------------------
def trial_request(name: str, x: str) -> dict[str, Any]:
    definition = tuning_data()["TrainingJobDefinition"]
    return {"TrainingJobName": name, "AlgorithmSpecification": definition[
        "AlgorithmSpecification"], "HyperParameters": {"x": x, "epochs": "3"},
            **{k: definition[k] for k in ("RoleArn", "InputDataConfig", "OutputDataConfig",
                                          "ResourceConfig", "StoppingCondition")}}


def poll_until_ended(trials: CloudTrials, job: str) -> list[TrialEvent]:
    events: list[TrialEvent] = []
    for _ in range(5000):
        events += trials.poll(0.2)
        if any(e.ended and e.job == job for e in events):
            return events + trials.poll(0.0)
    raise AssertionError(f"{job} never ended: {events}")


def test_start_means_created_then_values_in_order_and_one_end(world: World) -> None:
    trials = CloudTrials(world.jobs, NAME, ARN, None)
    trials.start(trial_request("one", "1.5"), METRIC)
    created = trials.describe("one")
    assert created is not None and created["TuningJobArn"] == ARN
    events = poll_until_ended(trials, "one")
    assert [e.value for e in events if not e.ended] == [loss(1.5, e) for e in (1, 2, 3)]
    assert [e for e in events if e.ended] == [TrialEvent("one", ended=True)]
    assert events[-1].ended
    assert trials.metric_values("one", METRIC) == [loss(1.5, e) for e in (1, 2, 3)]
    final = trials.describe("one")
    assert final is not None and final["TrainingJobStatus"] == "Completed"
    assert trials.describe("never") is None


def test_a_refused_start_is_described_failed_and_ends_once(world: World) -> None:
    world.cloud.refuse["two"] = refusal()
    trials = CloudTrials(world.jobs, NAME, ARN, None)
    trials.start(trial_request("two", "1.5"), METRIC)
    record = trials.describe("two")
    assert record is not None and record["TrainingJobStatus"] == "Failed"
    assert poll_until_ended(trials, "two") == [TrialEvent("two", ended=True)]


# -- what keeps trials off SageMaker -------------------------------------------------------------
def test_a_builtin_image_without_a_cloud_image_is_a_problem(tmp_path: Path) -> None:
    assert BUILTIN_IMAGE in builtin.manifests(), "the MLP's manifest was not found"
    problems = cloud_trial_problems(spec_from_dict(tuning_data(image=BUILTIN_IMAGE), tmp_path))
    assert [p.path for p in problems] == ["TrainingJobDefinition.AlgorithmSpecification."
                                          "TrainingImage"]
    assert BUILTIN_IMAGE in problems[0].message and "Local.CloudImage" in problems[0].message
    assert cloud_trial_problems(spec_from_dict(tuning_data(), tmp_path)) == []


def test_a_builtin_image_in_one_of_several_definitions_is_a_problem_there(
        tmp_path: Path) -> None:
    data = tuning_data()
    first = data.pop("TrainingJobDefinition")
    second = copy.deepcopy(first)
    second["AlgorithmSpecification"]["TrainingImage"] = BUILTIN_IMAGE
    data["TrainingJobDefinitions"] = [{**first, "DefinitionName": "a"},
                                      {**second, "DefinitionName": "b"}]
    problems = cloud_trial_problems(spec_from_dict(data, tmp_path))
    assert [p.path for p in problems] == [
        "TrainingJobDefinitions[1].AlgorithmSpecification.TrainingImage"]


@pytest.mark.parametrize("local, path", [
    ({"Gpus": "all"}, "Local.Gpus"),
    ({"Build": {"Context": "."}}, "Local.Build"),
])
def test_local_ways_without_cloud_meaning_are_problems(tmp_path: Path, local: dict[str, Any],
                                                       path: str) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    problems = cloud_trial_problems(spec_from_dict(tuning_data(local=local), tmp_path))
    assert [p.path for p in problems] == [path]
    assert "has no meaning on SageMaker" in problems[0].message


# -- SageMaker refusing to stop or to show a trial ----------------------------------------------
def test_a_throttled_stop_is_asked_again_and_an_ended_job_is_left_alone(world: World) -> None:
    trials = CloudTrials(world.jobs, NAME, ARN, None)
    throttled = CloudError("ThrottlingException in StopTrainingJob: Rate exceeded",
                           "ThrottlingException", transient=True)
    calls: list[str] = []

    def stop(name: str) -> None:
        calls.append(name)
        if len(calls) < 3:
            raise throttled

    world.cloud.stop_training_job = stop  # type: ignore[method-assign]
    trials.stop("job-a")
    assert calls == ["job-a"] * 3 and world.notes == []

    def ended(name: str) -> None:
        calls.append(name)
        raise CloudError("ValidationException in StopTrainingJob: not in progress",
                         "ValidationException", transient=False)

    world.cloud.stop_training_job = ended  # type: ignore[method-assign]
    trials.stop("job-b")
    assert calls[-1] == "job-b" and world.notes == []


def test_a_trial_sagemaker_will_not_show_is_given_up_stopped_and_failed(world: World) -> None:
    """A role allowed to train but not to read the logs: every round is refused. After three
    refusals in a row the trial's job is stopped and the trial recorded Failed (as the
    platform's failure), so the tuning job ends instead of waiting on it for ever."""
    denied = CloudError("AccessDeniedException in DescribeLogStreams: no logs:*",
                        "AccessDeniedException", transient=False)

    def refuse(job: str) -> list[str]:
        raise denied

    world.cloud.log_streams = refuse  # type: ignore[method-assign]
    record = world.run(tuning_data(max_jobs=2, parallel=2))
    assert record["HyperParameterTuningJobStatus"] in ("Completed", "Failed")
    for trial in world.trials():
        assert trial["TrainingJobStatus"] == "Failed"
        assert trial["FailureReason"].startswith(
            "InternalServerError: smlocal could not follow it on SageMaker")
    assert sorted(world.cloud.stopped) == sorted(t["TrainingJobName"] for t in world.trials())
    assert sum("cannot follow it on SageMaker" in note for note in world.notes) == 4
