"""Tuning jobs on SageMaker itself (runner.api.cloud_tuning) on a real store and a fake clock,
against an in-memory SageMaker whose tuning job lists its trials over the rounds: what is
sent, what is refused, and what following records (trial rows, the trials' training jobs and
their lines, the tuning job's record) and tells (the listener's events)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.api import builtin
from runner.api.cloud_jobs import CloudJobs
from runner.api.cloud_tuning import CloudTuning
from runner.api.errors import ResourceInUse, ResourceNotFound, ValidationException
from runner.aws.sagemaker import CloudError, Place
from runner.cloud.follow import to_record
from runner.core.clock import FakeClock
from runner.core.specs import Spec, spec_from_dict
from runner.shapes.training_jobs import cloud_place
from runner.store import lease
from runner.store.jobs import Store
from runner.store.tuning import TrialRow, TuningStore
from runner.tuning.trial_jobs import SINGLE_DEFINITION
from tests.unit.api.test_cloud_jobs import ECR_IMAGE, PLACE, FakeClients

NAME = "cloud-tuning"
ARN = f"arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/{NAME}"
BUILTIN_IMAGE = "smlocal/mlp:latest"
CREATED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
LOSS = {"Name": "train:loss", "Regex": r"loss=(\S+)"}
HOST = "algo-1-1700000000"
NOT_FOUND = "ResourceNotFound"  # what SageMaker answers for a tuning job it does not know
THROTTLED = CloudError("ThrottlingException in DescribeHyperParameterTuningJob: Rate exceeded",
                       "ThrottlingException", transient=True)


def at(seconds: float) -> datetime:
    return CREATED + timedelta(seconds=seconds)


def definition(image: str = ECR_IMAGE, static: dict[str, str] | None = None) -> dict[str, Any]:
    """A TrainingJobDefinition SageMaker would take (its objective scraped as train:loss)."""
    return {
        "StaticHyperParameters": static if static is not None else {"epochs": "3"},
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File",
                                   "MetricDefinitions": [LOSS]},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://bucket/train/"}}}],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/out/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def tuning_data(local: dict[str, Any] | None = None, image: str = ECR_IMAGE,
                static: dict[str, str] | None = None) -> dict[str, Any]:
    """A CreateHyperParameterTuningJob request file (its Local section too)."""
    return {
        "HyperParameterTuningJobName": NAME,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "train:loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "ContinuousParameterRanges": [{"Name": "learning_rate", "MinValue": "0.001",
                                               "MaxValue": "0.1", "ScalingType": "Linear"}],
                "IntegerParameterRanges": [{"Name": "mini_batch_size", "MinValue": "16",
                                            "MaxValue": "128", "ScalingType": "Linear"}],
                "CategoricalParameterRanges": [{"Name": "optimizer",
                                                "Values": ["adam", "sgd"]}]},
        },
        "TrainingJobDefinition": definition(image, static),
        "Local": {"Backend": "sagemaker", **(local or {})},
    }


def sent_request() -> dict[str, Any]:
    """What SageMaker is sent for ``tuning_data()``: the file's request, less Local."""
    data = tuning_data()
    del data["Local"]
    return data


@dataclass(frozen=True, eq=False)  # (hashed by identity: a key of a round's statuses)
class Trial:
    """One of the tuning job's training jobs on SageMaker."""

    job: str
    tuned: dict[str, str]
    config: dict[str, Any]  # the tuned values as smlocal parses them
    seconds: float  # its CreationTime, after the tuning job's
    objective: float | None  # None: it fails

    def lines(self) -> list[tuple[float, str]]:
        ts = at(self.seconds).timestamp()
        last = f"epoch 1 loss={self.objective}" if self.objective is not None else "out of memory"
        return [(ts + 10, f"{self.job} starting"), (ts + 20, last)]


T1 = Trial(f"{NAME}-001-3f1a2b4c", {"learning_rate": "0.05", "mini_batch_size": "32",
                                    "optimizer": "adam"},
           {"learning_rate": 0.05, "mini_batch_size": 32, "optimizer": "adam"}, 10, 0.5)
T2 = Trial(f"{NAME}-002-9e8d7c6b", {"learning_rate": "0.01", "mini_batch_size": "64",
                                    "optimizer": "sgd"},
           {"learning_rate": 0.01, "mini_batch_size": 64, "optimizer": "sgd"}, 20, 0.25)
T3 = Trial(f"{NAME}-003-0a1b2c3d", {"learning_rate": "0.1", "mini_batch_size": "16",
                                    "optimizer": "adam"},
           {"learning_rate": 0.1, "mini_batch_size": 16, "optimizer": "adam"}, 30, None)
TRIALS = {t.job: t for t in (T1, T2, T3)}
Round = tuple[str, dict[Trial, str]]  # the tuning job's status, each listed trial's
ALL_ENDED = {T1: "Completed", T2: "Completed", T3: "Failed"}
ENDED_ROUNDS: list[Round] = [("InProgress", ALL_ENDED), ("Completed", ALL_ENDED)]


def trial_arn(job: str) -> str:
    return f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{job}"


class TuningCloud:
    """SageMakerCloud's calls for tuning jobs, in memory. ``rounds``: what each
    ListTrainingJobsForHyperParameterTuningJob call finds (the last one again once used up);
    DescribeHyperParameterTuningJob answers the status of the round about to be listed.
    ``errors``: the exception the n-th DescribeHyperParameterTuningJob raises (1-based)."""

    def __init__(self, rounds: list[Round], place: Place = PLACE) -> None:
        self.clients = FakeClients()
        self._place = place
        self.rounds = rounds
        self.errors: dict[int, BaseException] = {}
        self.requests: dict[str, dict[str, Any]] = {}  # the tuning jobs SageMaker has
        self.created: list[dict[str, Any]] = []
        self.stopped: list[str] = []
        self.refuse: CloudError | None = None  # what Create... and Stop... raise
        self.invisible = False  # Describe... does not see a new tuning job yet
        self.answers: list[dict[str, Any]] = []  # Describe...'s answers, in order
        self.describes = 0
        self.listed = 0  # rounds listed
        self.status: dict[str, str] = {}  # each listed trial's status now
        self.trial_describes: dict[str, int] = {}
        self.log_reads: dict[str, set[int]] = {}  # the rounds in which a trial's logs were read

    def place(self) -> Place:
        return self._place

    def seed(self, request: dict[str, Any]) -> None:
        """A tuning job created on SageMaker by some other process."""
        self.requests[request["HyperParameterTuningJobName"]] = copy.deepcopy(request)

    def _round(self) -> Round:
        return self.rounds[min(self.listed, len(self.rounds) - 1)]

    # -- tuning jobs ---------------------------------------------------------------------------
    def create_hyper_parameter_tuning_job(self, request: dict[str, Any]) -> str:
        self.created.append(copy.deepcopy(request))
        if self.refuse is not None:
            raise self.refuse
        self.seed(request)
        return ARN

    def describe_hyper_parameter_tuning_job(self, name: str) -> dict[str, Any]:
        self.describes += 1
        if self.describes in self.errors:
            raise self.errors[self.describes]
        if name not in self.requests or self.invisible:
            raise CloudError(f"{NOT_FOUND} in DescribeHyperParameterTuningJob: Amazon SageMaker "
                             f"can't find a tuning job with name {name}", NOT_FOUND, False)
        status, listed = self._round()
        counters = {"Completed": 0, "InProgress": 0, "RetryableError": 0,
                    "NonRetryableError": 0, "Stopped": 0}
        for trial_status in listed.values():
            counters["NonRetryableError" if trial_status == "Failed" else trial_status] += 1
        answer: dict[str, Any] = {
            **copy.deepcopy(self.requests[name]),
            "HyperParameterTuningJobArn": ARN, "HyperParameterTuningJobStatus": status,
            "CreationTime": CREATED, "LastModifiedTime": at(60 * self.describes),
            "TrainingJobStatusCounters": counters,
            "ObjectiveStatusCounters": {"Succeeded": counters["Completed"], "Pending": 0,
                                        "Failed": counters["NonRetryableError"]},
        }
        if status != "InProgress":
            answer["HyperParameterTuningEndTime"] = answer["LastModifiedTime"]
        self.answers.append(answer)
        return copy.deepcopy(answer)

    def stop_hyper_parameter_tuning_job(self, name: str) -> None:
        self.stopped.append(name)
        if self.refuse is not None:
            raise self.refuse

    def tuning_job_trials(self, name: str) -> list[dict[str, Any]]:
        assert name in self.requests
        _, listed = self._round()
        self.listed += 1
        summaries = []
        for trial, status in sorted(listed.items(), key=lambda item: item[0].seconds):
            self.status[trial.job] = status
            summary: dict[str, Any] = {
                "TrainingJobName": trial.job, "TrainingJobArn": trial_arn(trial.job),
                "CreationTime": at(trial.seconds), "TrainingJobStatus": status,
                "TunedHyperParameters": dict(trial.tuned)}
            if status != "InProgress":
                summary["TrainingEndTime"] = at(trial.seconds + 100)
            if status == "Completed":
                summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                    "MetricName": "train:loss", "Value": trial.objective}
            summaries.append(summary)
        return summaries

    # -- the trials' training jobs ---------------------------------------------------------------
    def describe_training_job(self, job: str) -> dict[str, Any]:
        self.trial_describes[job] = self.trial_describes.get(job, 0) + 1
        return self.trial_answer(job)

    def trial_answer(self, job: str) -> dict[str, Any]:
        trial, status = TRIALS[job], self.status[job]
        answer: dict[str, Any] = {
            "TrainingJobName": job, "TrainingJobArn": trial_arn(job), "TuningJobArn": ARN,
            "TrainingJobStatus": status,
            "SecondaryStatus": "Training" if status == "InProgress" else status,
            "HyperParameters": {"epochs": "3", **trial.tuned},
            "CreationTime": at(trial.seconds), "LastModifiedTime": at(trial.seconds + 100),
            "SecondaryStatusTransitions": [{"Status": "Starting", "StartTime": at(trial.seconds),
                                            "StatusMessage": "Starting the training job"}],
        }
        if status == "Completed":
            answer["FinalMetricDataList"] = [{"MetricName": "train:loss",
                                              "Value": trial.objective,
                                              "Timestamp": at(trial.seconds + 90)}]
        if status == "Failed":
            answer["FailureReason"] = "AlgorithmError: out of memory"
        return answer

    def log_streams(self, job: str) -> list[str]:
        self.log_reads.setdefault(job, set()).add(self.listed)
        return [f"{job}/{HOST}"]

    def log_events(self, stream: str, token: str | None) -> tuple[list[tuple[float, str]], str]:
        if token:
            return [], token
        return TRIALS[stream.rpartition("/")[0]].lines(), "f/2"


class World:
    """A store, a fake clock, the fake SageMaker, and CloudTuning over them."""

    def __init__(self, tmp_path: Path, cloud: TuningCloud) -> None:
        self.tmp_path = tmp_path
        self.store = Store(tmp_path / "home")
        self.cloud = cloud
        self.clock = FakeClock()
        self.notes: list[str] = []
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.tuning = self.service(cloud)

    def service(self, cloud: Any) -> CloudTuning:
        jobs = CloudJobs(self.store, clock=self.clock, interval=1.0, notify=self.notes.append)
        jobs.__dict__["cloud"] = cloud  # (a functools.cached_property)
        return CloudTuning(jobs, TuningStore(self.store))

    @property
    def tstore(self) -> TuningStore:
        return self.tuning.tstore

    def spec(self, data: dict[str, Any]) -> Spec:
        return spec_from_dict(copy.deepcopy(data), self.tmp_path)

    def create(self, data: dict[str, Any] | None = None) -> str:
        return self.tuning.create_hyper_parameter_tuning_job(
            self.spec(data if data is not None else tuning_data()))

    def follow(self) -> dict[str, Any]:
        return self.tuning.follow(NAME, lambda kind, event: self.events.append((kind, event)))

    def told(self) -> list[tuple[str, Any]]:
        """The events, each by its trial's number (or the status it tells)."""
        return [(kind, event.get("trial", event.get("status"))) for kind, event in self.events]

    def lines(self, job: str) -> list[tuple[str, str]]:
        return [(x.host, x.line) for x in self.store.iter_logs(job)]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    world = World(tmp_path, TuningCloud([
        ("InProgress", {T1: "InProgress"}),
        ("InProgress", {T1: "Completed", T2: "InProgress"}),
        ("Completed", {T1: "Completed", T2: "Completed", T3: "Failed"}),
    ]))
    yield world
    world.store.close()


def paths(exc: pytest.ExceptionInfo[ValidationException]) -> set[str]:
    return {p.path for p in exc.value.problems}


# -- the request SageMaker is sent -----------------------------------------------------------
def test_the_local_section_is_never_sent(world: World) -> None:
    data = tuning_data({"CloudWatch": True, "StopGracePeriodSeconds": 30})
    spec = world.spec(data)
    given = copy.deepcopy(spec.request)
    assert world.tuning.cloud_request(spec) == sent_request()
    assert spec.request == given  # left as it was


def test_a_builtin_image_needs_a_cloud_image(world: World) -> None:
    data = tuning_data(image=BUILTIN_IMAGE, static={"num_classes": "3"})
    assert BUILTIN_IMAGE in builtin.manifests(), "the MLP's manifest was not found"
    with pytest.raises(ValidationException) as exc:
        world.tuning.cloud_request(world.spec(data))
    assert paths(exc) == {"TrainingJobDefinition.AlgorithmSpecification.TrainingImage"}
    message = exc.value.problems[0].message
    assert BUILTIN_IMAGE in message and "Local.CloudImage" in message


def two_definitions(image: str) -> dict[str, Any]:
    """``tuning_data(image=...)`` with two training job definitions of its own."""
    data = tuning_data(local={"CloudImage": ECR_IMAGE}, image=image,
                       static={"num_classes": "3"})
    config = data["HyperParameterTuningJobConfig"]
    ranges = config.pop("ParameterRanges")
    del config["HyperParameterTuningJobObjective"]
    single = data.pop("TrainingJobDefinition")
    single["AlgorithmSpecification"].pop("MetricDefinitions")  # the built-in's fill them in
    data["TrainingJobDefinitions"] = [
        {**copy.deepcopy(single), "DefinitionName": name, "HyperParameterRanges": ranges,
         "TuningObjective": {"Type": "Minimize", "MetricName": "validation:loss"}}
        for name in ("small", "large")]
    return data


def test_the_cloud_image_takes_the_builtins_place_in_every_definition(world: World) -> None:
    data = two_definitions(BUILTIN_IMAGE)
    given = copy.deepcopy(data)
    sent = world.tuning.cloud_request(world.spec(data))
    metrics = builtin.manifests()[BUILTIN_IMAGE]["MetricDefinitions"]
    assert [d["AlgorithmSpecification"] for d in sent["TrainingJobDefinitions"]] == [
        {"TrainingImage": ECR_IMAGE, "TrainingInputMode": "File", "MetricDefinitions": metrics}
    ] * 2
    assert "Local" not in sent
    assert data == given  # the spec's request is left as it was
    # without the cloud image, each definition's image is refused at its own path
    del data["Local"]["CloudImage"]
    with pytest.raises(ValidationException) as exc:
        world.tuning.cloud_request(world.spec(data))
    assert paths(exc) == {f"TrainingJobDefinitions[{i}].AlgorithmSpecification.TrainingImage"
                          for i in (0, 1)}


def test_the_cloud_image_takes_the_builtins_place(world: World) -> None:
    data = tuning_data({"CloudImage": ECR_IMAGE}, image=BUILTIN_IMAGE,
                       static={"num_classes": "3"})
    sent = world.tuning.cloud_request(world.spec(data))
    assert sent["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"] == ECR_IMAGE
    assert sent["TrainingJobDefinition"]["StaticHyperParameters"] == {"num_classes": "3"}


def test_a_builtins_hyperparameters_are_checked_under_its_cloud_image(world: World) -> None:
    data = tuning_data({"CloudImage": ECR_IMAGE}, image=BUILTIN_IMAGE,
                       static={"num_classes": "many"})
    with pytest.raises(ValidationException) as exc:
        world.tuning.cloud_request(world.spec(data))
    assert paths(exc) == {"TrainingJobDefinition.StaticHyperParameters.num_classes"}


@pytest.mark.parametrize("local, field", [
    ({"TrialsOn": "sagemaker"}, "Local.TrialsOn"),
    ({"Gpus": "all"}, "Local.Gpus"),
    ({"Build": {"Context": "."}}, "Local.Build"),
])
def test_local_ways_without_cloud_meaning_are_refused(world: World, local: dict[str, Any],
                                                      field: str) -> None:
    (world.tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(ValidationException) as exc:
        world.create(tuning_data(local))
    assert paths(exc) == {field}
    assert "has no meaning on SageMaker" in exc.value.problems[0].message
    assert world.cloud.created == [] and not world.tstore.exists(NAME)


def test_the_request_is_checked_for_the_cloud(world: World) -> None:
    data = tuning_data()
    data["TrainingJobDefinition"]["ResourceConfig"]["InstanceType"] = "local"
    with pytest.raises(ValidationException) as exc:
        world.create(data)
    assert "TrainingJobDefinition.ResourceConfig.InstanceType" in paths(exc)
    assert world.cloud.created == [] and not world.tstore.exists(NAME)


# -- creating ------------------------------------------------------------------------------
def test_create_submits_and_records_sagemakers_answer(world: World) -> None:
    data = tuning_data()
    data["Local"] = {"StopGracePeriodSeconds": 30}  # (--backend sagemaker, say)
    assert world.create(data) == NAME
    assert world.cloud.created == [sent_request()]
    record = world.tstore.record(NAME)
    assert record == to_record(world.cloud.answers[-1], PLACE)
    assert record["CreationTime"] == CREATED.timestamp()
    assert record["HyperParameterTuningJobArn"] == ARN
    assert cloud_place(record) == PLACE.to_record()
    request, local = world.tstore.request(NAME)
    assert request == sent_request()
    assert local["Backend"] == "sagemaker" and local["BaseDir"] == str(world.tmp_path)
    assert world.tuning.is_cloud_job(NAME) and not world.tuning.is_cloud_job("nope")
    assert world.notes == [
        f"tuning job {NAME}: submitted to SageMaker (us-east-1, http://fake-sagemaker.test)"]


def test_a_name_the_store_has_gets_a_cloud_name_of_its_own(world: World) -> None:
    world.create()
    assert world.create() == f"{NAME}-cloud"
    assert world.create() == f"{NAME}-cloud-2"
    assert [r["HyperParameterTuningJobName"] for r in world.cloud.created] == [
        NAME, f"{NAME}-cloud", f"{NAME}-cloud-2"]
    assert world.tstore.request(f"{NAME}-cloud")[0] == {
        **sent_request(), "HyperParameterTuningJobName": f"{NAME}-cloud"}
    assert world.tstore.record(f"{NAME}-cloud")["HyperParameterTuningJobName"] == f"{NAME}-cloud"
    assert (f"{NAME} is recorded here already: the SageMaker run is {NAME}-cloud (--name names "
            "it)") in world.notes


def test_a_cloud_name_too_long_for_sagemaker_is_refused(world: World) -> None:
    long = "t" * 30  # (SageMaker takes 32 characters at most)
    world.create({**tuning_data(), "HyperParameterTuningJobName": long})
    with pytest.raises(ResourceInUse, match="too long a name for SageMaker"):
        world.create({**tuning_data(), "HyperParameterTuningJobName": long})
    assert len(world.cloud.created) == 1  # SageMaker was not asked again


def test_sagemakers_refusals_record_nothing(world: World) -> None:
    world.cloud.refuse = CloudError("ValidationException in CreateHyperParameterTuningJob: "
                                    "bad role", "ValidationException", transient=False)
    with pytest.raises(ValidationException) as exc:
        world.create()
    assert paths(exc) == {"SageMaker"} and "bad role" in exc.value.problems[0].message
    world.cloud.refuse = CloudError("ResourceLimitExceeded in CreateHyperParameterTuningJob",
                                    "ResourceLimitExceeded", transient=False)
    with pytest.raises(CloudError) as limit:
        world.create()
    assert limit.value.code == "ResourceLimitExceeded"
    assert not world.tstore.exists(NAME)


def test_a_tuning_job_not_yet_visible_is_still_recorded(world: World) -> None:
    world.cloud.invisible = True
    assert world.create() == NAME
    assert world.tstore.exists(NAME)
    assert world.tstore.record(NAME)["HyperParameterTuningJobStatus"] == "InProgress"


# -- following -------------------------------------------------------------------------------
def test_follow_records_every_trial_and_tells_its_events(world: World) -> None:
    world.create()
    final = world.follow()
    cloud, store = world.cloud, world.store
    # the tuning job's record: SageMaker's last answer, with its place
    assert final == world.tstore.record(NAME) == to_record(cloud.answers[-1], PLACE)
    assert final["HyperParameterTuningJobStatus"] == "Completed"
    assert final["TrainingJobStatusCounters"]["Completed"] == 2
    assert cloud.listed == 3
    # one trial row each, numbered in creation order, its configuration parsed
    assert world.tstore.trials(NAME) == [
        TrialRow(n, SINGLE_DEFINITION, t.config, t.job, (t.job,))
        for n, t in enumerate((T1, T2, T3), 1)]
    # a training job each, as SageMaker described it at its end, with the tuning job's ARN
    assert [r["TrainingJobName"] for r in store.list_training_jobs(tuning_job=NAME)] == [
        T1.job, T2.job, T3.job]
    for trial in (T1, T2, T3):
        rec = store.record(trial.job)
        assert rec == {**to_record(cloud.trial_answer(trial.job), PLACE), "TuningJobArn": ARN}
        request, local = store.request(trial.job)
        assert request == {"TrainingJobName": trial.job,
                           "AlgorithmSpecification": sent_request()["TrainingJobDefinition"][
                               "AlgorithmSpecification"],
                           "HyperParameters": {"epochs": "3", **trial.tuned}}
        assert local == {"Backend": "sagemaker"}
        assert world.lines(trial.job) == [(HOST, line) for _, line in trial.lines()]
    assert [store.record(t.job)["TrainingJobStatus"] for t in (T1, T2, T3)] == [
        "Completed", "Completed", "Failed"]
    assert store.metric_series(T1.job) == {"train:loss": [(T1.lines()[1][0], 0.5)]}
    assert store.metric_series(T3.job) == {}
    # each trial described once, and its lines read only once it had ended
    assert cloud.trial_describes == {T1.job: 1, T2.job: 1, T3.job: 1}
    assert cloud.log_reads == {T1.job: {2}, T2.job: {3}, T3.job: {3}}
    # the events: each trial started and ended once, the status on each change
    assert world.told() == [
        ("trial-started", 1), ("status", "InProgress"),
        ("trial-ended", 1), ("trial-started", 2),
        ("trial-ended", 2), ("trial-started", 3), ("trial-ended", 3), ("status", "Completed")]
    started = [e for k, e in world.events if k == "trial-started"]
    assert started[0] == {"trial": 1, "job": T1.job, "config": T1.config}
    ended = {e["trial"]: e for k, e in world.events if k == "trial-ended"}
    assert ended[1] == {"trial": 1, "job": T1.job, "record": store.record(T1.job),
                        "objective": 0.5}
    assert ended[3]["objective"] is None
    assert ended[3]["record"]["FailureReason"] == "AlgorithmError: out of memory"
    # a trial's own SecondaryStatus is not told; nothing else went wrong
    assert world.notes == [
        f"tuning job {NAME}: submitted to SageMaker (us-east-1, http://fake-sagemaker.test)"]


def test_a_trial_first_seen_ended_is_still_described_and_read(tmp_path: Path) -> None:
    world = World(tmp_path, TuningCloud(ENDED_ROUNDS))
    try:
        world.create()
        world.follow()
        assert world.cloud.listed == 2
        assert world.cloud.trial_describes == {T1.job: 1, T2.job: 1, T3.job: 1}
        assert world.cloud.log_reads == {T1.job: {1}, T2.job: {1}, T3.job: {1}}
        for trial in (T1, T2, T3):
            assert world.lines(trial.job) == [(HOST, line) for _, line in trial.lines()]
            assert world.store.record(trial.job)["TrainingJobStatus"] == world.cloud.status[
                trial.job]
        assert world.told() == [("trial-started", 1), ("trial-ended", 1),
                                ("trial-started", 2), ("trial-ended", 2),
                                ("trial-started", 3), ("trial-ended", 3),
                                ("status", "InProgress"), ("status", "Completed")]
    finally:
        world.store.close()


def test_following_waits_for_the_trials_to_end(tmp_path: Path) -> None:
    world = World(tmp_path, TuningCloud([
        ("InProgress", {T1: "InProgress"}),
        ("Stopped", {T1: "Completed", T2: "InProgress"}),  # (T2: still stopping)
        ("Stopped", {T1: "Completed", T2: "Stopped"}),
    ]))
    try:
        world.create()
        final = world.follow()
        assert final["HyperParameterTuningJobStatus"] == "Stopped"
        assert world.cloud.listed == 3
        assert world.store.record(T2.job)["TrainingJobStatus"] == "Stopped"
        assert world.told() == [("trial-started", 1), ("status", "InProgress"),
                                ("trial-ended", 1), ("trial-started", 2), ("status", "Stopped"),
                                ("trial-ended", 2)]
    finally:
        world.store.close()


def test_a_transient_error_is_waited_out(world: World) -> None:
    world.cloud.errors[3] = THROTTLED  # the second round's describe (the first: create's)
    world.create()
    started = world.clock.monotonic()
    final = world.follow()
    assert final["HyperParameterTuningJobStatus"] == "Completed"
    assert world.notes[1:] == [
        f"tuning job {NAME}: SageMaker did not answer ({THROTTLED}); asking again in 2 s"]
    assert world.cloud.listed == 3  # the round was asked again, nothing skipped
    assert [r.job_name for r in world.tstore.trials(NAME)] == [T1.job, T2.job, T3.job]
    assert [k for k, _ in world.events].count("trial-ended") == 3
    assert world.clock.monotonic() - started >= 2.0


def test_another_error_ends_the_following_not_the_job(world: World) -> None:
    denied = CloudError("AccessDeniedException in DescribeHyperParameterTuningJob: no",
                        "AccessDeniedException", transient=False)
    world.cloud.errors[3] = denied
    world.create()
    with pytest.raises(CloudError) as exc:
        world.follow()
    assert exc.value is denied
    assert world.tstore.record(NAME)["HyperParameterTuningJobStatus"] == "InProgress"
    assert [r.number for r in world.tstore.trials(NAME)] == [1]
    # the lease is let go: following again carries on
    assert world.follow()["HyperParameterTuningJobStatus"] == "Completed"
    assert [r.number for r in world.tstore.trials(NAME)] == [1, 2, 3]


def test_a_follower_let_go_of_carries_on_where_it_stopped(world: World) -> None:
    world.cloud.rounds = [
        ("InProgress", {T1: "InProgress"}),
        ("InProgress", {T1: "InProgress", T2: "InProgress"}),
        ("Completed", {T1: "Completed", T2: "Completed"}),
    ]
    world.cloud.errors[4] = KeyboardInterrupt()  # Ctrl-C in the third round
    world.create()
    with pytest.raises(KeyboardInterrupt):
        world.follow()
    store = world.store
    # recorded so far: both trials, running, with their tuning job's ARN and no lines yet
    assert [r.job_name for r in world.tstore.trials(NAME)] == [T1.job, T2.job]
    for trial in (T1, T2):
        rec = store.record(trial.job)
        assert (rec["TrainingJobStatus"], rec["SecondaryStatus"]) == ("InProgress", "Starting")
        assert rec["TuningJobArn"] == ARN and cloud_place(rec) == PLACE.to_record()
        assert rec["CreationTime"] == at(trial.seconds).timestamp()
        assert world.lines(trial.job) == []
    assert world.tstore.record(NAME)["HyperParameterTuningJobStatus"] == "InProgress"
    assert world.cloud.log_reads == {}
    assert world.told() == [("trial-started", 1), ("status", "InProgress"),
                            ("trial-started", 2)]
    # another process follows it on: no trial starts twice, each ends once
    world.events.clear()
    again = world.service(world.cloud)
    again.follow(NAME, lambda kind, event: world.events.append((kind, event)))
    assert world.told() == [("trial-ended", 1), ("trial-ended", 2), ("status", "Completed")]
    assert [r.number for r in world.tstore.trials(NAME)] == [1, 2]
    assert world.lines(T1.job) == [(HOST, line) for _, line in T1.lines()]


def test_a_tuning_job_followed_elsewhere_is_refused(world: World) -> None:
    world.create()
    held = lease.try_acquire(world.store.home, lease.TUNING, NAME)
    assert held is not None
    try:
        with pytest.raises(ResourceInUse, match="another smlocal process"):
            world.follow()
    finally:
        held.release()
    assert world.cloud.listed == 0


def test_following_an_ended_tuning_job_again_returns_its_record(world: World) -> None:
    world.create()
    first = world.follow()
    assert world.follow() == first


# -- importing -------------------------------------------------------------------------------
def test_import_records_the_request_sagemaker_describes(tmp_path: Path) -> None:
    world = World(tmp_path, TuningCloud([("Completed", ALL_ENDED)]))  # ended there already
    try:
        world.cloud.seed({**sent_request(), "Tags": [{"Key": "team", "Value": "ml"}]})
        world.tuning.import_hyper_parameter_tuning_job(NAME)
        request, local = world.tstore.request(NAME)
        # only CreateHyperParameterTuningJob's members of the answer (Tags: not in it)
        assert request == {**sent_request(), "Tags": [{"Key": "team", "Value": "ml"}]}
        assert local == {"Backend": "sagemaker"}
        record = world.tstore.record(NAME)
        answer = to_record(world.cloud.answers[-1], PLACE)
        # recorded InProgress until its trials are read, whatever its status there
        assert record == {**answer, "HyperParameterTuningJobStatus": "InProgress"}
        assert world.tuning.is_cloud_job(NAME)
        final = world.follow()
        assert final["HyperParameterTuningJobStatus"] == "Completed"
        assert [r.job_name for r in world.tstore.trials(NAME)] == [T1.job, T2.job, T3.job]
        assert all(world.lines(t.job) for t in (T1, T2, T3))
    finally:
        world.store.close()


def test_import_of_a_name_the_store_has_is_refused(world: World) -> None:
    world.create()
    describes = world.cloud.describes
    with pytest.raises(ResourceInUse, match=f"{NAME} already exists in this store"):
        world.tuning.import_hyper_parameter_tuning_job(NAME)
    assert world.cloud.describes == describes


@pytest.mark.parametrize("code", [NOT_FOUND, "ValidationException"])
def test_import_of_an_unknown_job_is_not_found(world: World, code: str) -> None:
    world.cloud.errors[1] = CloudError(f"{code}: no such job", code, transient=False)
    with pytest.raises(ResourceNotFound, match="SageMaker has no tuning job ghost"):
        world.tuning.import_hyper_parameter_tuning_job("ghost")
    assert not world.tstore.exists("ghost")


def test_import_lets_other_errors_through(world: World) -> None:
    world.cloud.seed(sent_request())
    world.cloud.errors[1] = CloudError("AccessDeniedException: no", "AccessDeniedException",
                                       transient=False)
    with pytest.raises(CloudError, match="AccessDeniedException"):
        world.tuning.import_hyper_parameter_tuning_job(NAME)
    assert not world.tstore.exists(NAME)


# -- stopping --------------------------------------------------------------------------------
def test_stop_reaches_sagemaker(world: World) -> None:
    world.create()
    world.tuning.stop(NAME)
    assert world.cloud.stopped == [NAME]
    assert world.notes[-1] == f"tuning job {NAME}: StopHyperParameterTuningJob sent to SageMaker"


def test_sagemakers_refusal_to_stop_is_a_validation_exception(world: World) -> None:
    world.create()
    world.cloud.refuse = CloudError("ValidationException in StopHyperParameterTuningJob: the "
                                    "job has ended", "ValidationException", transient=False)
    with pytest.raises(ValidationException) as exc:
        world.tuning.stop(NAME)
    assert paths(exc) == {"SageMaker"} and "has ended" in exc.value.problems[0].message


def test_a_tuning_job_at_another_endpoint_is_not_reached(world: World) -> None:
    world.create()
    elsewhere = TuningCloud(world.cloud.rounds, Place("us-east-1", "http://127.0.0.1:5000"))
    other = world.service(elsewhere)
    for call in (other.stop, lambda name: other.follow(name, lambda kind, event: None)):
        with pytest.raises(ValidationException) as exc:
            call(NAME)
        assert paths(exc) == {"AWS_ENDPOINT_URL_SAGEMAKER"}
        assert "http://fake-sagemaker.test" in exc.value.problems[0].message
    assert world.cloud.stopped == [] and elsewhere.stopped == []
    assert elsewhere.describes == 0 and world.cloud.listed == 0


def test_a_tuning_job_that_ran_here_is_not_reached(world: World) -> None:
    request = sent_request()
    world.tstore.create({"HyperParameterTuningJobName": NAME, "HyperParameterTuningJobArn": ARN,
                         "HyperParameterTuningJobStatus": "Completed", "CreationTime": 1.0},
                        request, {})
    assert not world.tuning.is_cloud_job(NAME)
    with pytest.raises(ResourceNotFound, match="ran here, not on SageMaker"):
        world.tuning.stop(NAME)
    with pytest.raises(ResourceNotFound, match="Could not find job nope"):
        world.tuning.stop("nope")
    with pytest.raises(ResourceNotFound):
        world.tuning.follow("nope", lambda kind, event: None)
    assert world.cloud.stopped == []
