"""The cloud backend's use cases (runner.api.cloud_jobs) on a real store, with an in-memory
SageMaker in place of SageMakerCloud: what is sent, what is refused, what is recorded."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runner.api import builtin
from runner.api.cloud_jobs import CloudJobs
from runner.api.errors import ResourceInUse, ResourceNotFound, ValidationException
from runner.aws.sagemaker import CloudError, Place, SageMakerCloud
from runner.core.clock import FakeClock
from runner.core.specs import LocalOptions, Spec, spec_from_dict
from runner.shapes import status
from runner.shapes.training_jobs import cloud_place
from runner.store.jobs import Store

ECR_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/demo:1"
PLACE = Place("us-east-1", "http://fake-sagemaker.test")
CREATED = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
NOT_FOUND = "ValidationException"  # what SageMaker answers for a job it does not know


class FakeClients:
    def region(self) -> str:
        return PLACE.region


class FakeCloud:
    """SageMakerCloud's calls, in memory: the jobs created here, as DescribeTrainingJob
    answers them (datetimes); ``refuse``: the CloudError CreateTrainingJob raises."""

    def __init__(self, place: Place = PLACE) -> None:
        self.clients = FakeClients()
        self._place = place
        self.jobs: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []
        self.stopped: list[str] = []
        self.refuse: CloudError | None = None
        self.invisible = False  # DescribeTrainingJob does not see new jobs yet

    def place(self) -> Place:
        return self._place

    def create_training_job(self, request: dict[str, Any]) -> str:
        self.created.append(copy.deepcopy(request))
        if self.refuse is not None:
            raise self.refuse
        name = request["TrainingJobName"]
        self.jobs[name] = {**copy.deepcopy(request), **answer(name, "InProgress")}
        return str(self.jobs[name]["TrainingJobArn"])

    def describe_training_job(self, name: str) -> dict[str, Any]:
        if name not in self.jobs or self.invisible:
            raise CloudError(f"{NOT_FOUND} in DescribeTrainingJob: Requested resource not found.",
                             NOT_FOUND, transient=False)
        return copy.deepcopy(self.jobs[name])

    def stop_training_job(self, name: str) -> None:
        self.stopped.append(name)

    def log_streams(self, job: str) -> list[str]:
        return [f"{job}/algo-1-1700000000"] if job in self.jobs else []

    def log_events(self, stream: str, token: str | None) -> tuple[list[tuple[float, str]], str]:
        if token:
            return [], token
        return [(CREATED.timestamp() + 1, "hello from the cloud")], "f/1"


def answer(name: str, state: str) -> dict[str, Any]:
    return {"TrainingJobName": name,
            "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
            "TrainingJobStatus": state,
            "SecondaryStatus": "Starting" if state == "InProgress" else state,
            "CreationTime": CREATED, "LastModifiedTime": CREATED,
            "SecondaryStatusTransitions": []}


def cloud_request(name: str = "cloud-job", image: str = ECR_IMAGE) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "HyperParameters": {"epochs": "2"},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "InputDataConfig": [{
            "ChannelName": "train",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                            "S3Uri": "s3://bucket/train/"}},
        }],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/out/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


@pytest.fixture
def cloud() -> FakeCloud:
    return FakeCloud()


@pytest.fixture
def jobs(tmp_path: Path, cloud: FakeCloud) -> Iterator[CloudJobs]:
    store = Store(tmp_path / "home")
    notes: list[str] = []
    service = CloudJobs(store, notify=notes.append, clock=FakeClock(), interval=1.0)
    service.__dict__["cloud"] = cloud  # (a functools.cached_property)
    service.notes = notes  # type: ignore[attr-defined]
    yield service
    store.close()


def spec(data: dict[str, Any], base_dir: Path) -> Spec:
    return spec_from_dict(data, base_dir)


def paths(exc: pytest.ExceptionInfo[ValidationException]) -> set[str]:
    return {p.path for p in exc.value.problems}


def builtin_image() -> str:
    assert "smlocal/mlp:latest" in builtin.manifests(), "the MLP's manifest was not found"
    return "smlocal/mlp:latest"


# -- the request SageMaker is sent -----------------------------------------------------------
def test_the_local_section_never_reaches_the_request(jobs: CloudJobs, tmp_path: Path) -> None:
    data = {**cloud_request(), "Local": {"Backend": "sagemaker", "StopGracePeriodSeconds": 30,
                                         "CloudWatch": True}}
    given = copy.deepcopy(data)
    sent = jobs.cloud_request(spec(data, tmp_path))
    assert sent == cloud_request()
    assert data == given
    # a Local left in the request itself (not split off as a file's) is refused, not sent
    raw = Spec(request={**cloud_request(), "Local": {"Gpus": "all"}}, local=LocalOptions(),
               base_dir=tmp_path)
    with pytest.raises(ValidationException) as exc:
        jobs.cloud_request(raw)
    assert "Local" in paths(exc)


def test_a_builtin_image_needs_a_cloud_image(jobs: CloudJobs, tmp_path: Path) -> None:
    image = builtin_image()
    with pytest.raises(ValidationException) as exc:
        jobs.cloud_request(spec(cloud_request(image=image), tmp_path))
    problem = next(p for p in exc.value.problems
                   if p.path == "AlgorithmSpecification.TrainingImage")
    assert image in problem.message and "Local.CloudImage" in problem.message


def test_the_cloud_image_takes_the_builtin_images_place(jobs: CloudJobs, tmp_path: Path) -> None:
    image = builtin_image()
    data = {**cloud_request(image=image), "HyperParameters": {"num_classes": "3"},
            "Local": {"CloudImage": ECR_IMAGE}}
    given = copy.deepcopy(data)
    sent = jobs.cloud_request(spec(data, tmp_path))
    algorithm = sent["AlgorithmSpecification"]
    assert algorithm["TrainingImage"] == ECR_IMAGE
    # the built-in's MetricDefinitions still go with it, so the cloud scrapes the same metrics
    assert algorithm["MetricDefinitions"] == builtin.manifests()[image]["MetricDefinitions"]
    assert {k: v for k, v in sent.items() if k != "AlgorithmSpecification"} == \
        {k: v for k, v in given.items() if k not in ("AlgorithmSpecification", "Local")}
    assert data == given  # the spec's request is left as it was


def test_a_builtins_hyperparameters_are_checked_under_its_cloud_image(
        jobs: CloudJobs, tmp_path: Path) -> None:
    data = {**cloud_request(image=builtin_image()), "HyperParameters": {"num_classes": "many"},
            "Local": {"CloudImage": ECR_IMAGE}}
    with pytest.raises(ValidationException) as exc:
        jobs.cloud_request(spec(data, tmp_path))
    assert [p.path for p in exc.value.problems] == ["HyperParameters.num_classes"]


@pytest.mark.parametrize("local, field", [
    ({"Build": {"Context": "."}}, "Local.Build"),
    ({"Gpus": "all"}, "Local.Gpus"),
    ({"Interruptions": [30]}, "Local.Interruptions"),
])
def test_local_ways_without_cloud_meaning_are_refused(jobs: CloudJobs, tmp_path: Path,
                                                      local: dict[str, Any], field: str) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(ValidationException) as exc:
        jobs.cloud_request(spec({**cloud_request(), "Local": local}, tmp_path))
    assert paths(exc) == {field}
    assert "no meaning on SageMaker" in exc.value.problems[0].message


def test_the_request_is_checked_for_the_cloud(jobs: CloudJobs, tmp_path: Path,
                                              cloud: FakeCloud) -> None:
    (tmp_path / "data").mkdir()
    data = cloud_request()
    data["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = "file://data"
    del data["RoleArn"]
    with pytest.raises(ValidationException) as exc:
        jobs.create_training_job(spec(data, tmp_path))
    assert paths(exc) == {"InputDataConfig[0].DataSource.S3DataSource.S3Uri", "RoleArn"}
    assert any("file:// paths work only locally" in p.message for p in exc.value.problems)
    assert cloud.created == [] and not jobs.store.has_training_job("cloud-job")


# -- creating -----------------------------------------------------------------------------
def test_create_submits_and_records_the_job_with_its_place(jobs: CloudJobs, tmp_path: Path,
                                                           cloud: FakeCloud) -> None:
    data = {**cloud_request(), "Local": {"Backend": "sagemaker"}}
    assert jobs.create_training_job(spec(data, tmp_path)) == "cloud-job"
    assert cloud.created == [cloud_request()]
    record = jobs.store.record("cloud-job")
    assert cloud_place(record) == {"Backend": "sagemaker", "Region": "us-east-1",
                                   "EndpointUrl": "http://fake-sagemaker.test"}
    assert record["CreationTime"] == CREATED.timestamp()  # DescribeTrainingJob's, in seconds
    assert record["TrainingJobStatus"] == "InProgress"
    request, local = jobs.store.request("cloud-job")
    assert request == cloud_request()
    assert local["Backend"] == "sagemaker" and local["BaseDir"] == str(tmp_path)
    assert jobs.is_cloud_job("cloud-job")
    assert jobs.notes == [  # type: ignore[attr-defined]
        "training job cloud-job: submitted to SageMaker (us-east-1, http://fake-sagemaker.test)"]


def test_a_name_the_store_holds_gives_the_cloud_run_a_name_of_its_own(
        jobs: CloudJobs, tmp_path: Path, cloud: FakeCloud) -> None:
    """The local run and the cloud run of one file: the second is ``<name>-cloud`` (then
    ``-cloud-2``), told; a name past SageMaker's 63 characters so made is refused."""
    names = [jobs.create_training_job(spec(cloud_request(), tmp_path)) for _ in range(3)]
    assert names == ["cloud-job", "cloud-job-cloud", "cloud-job-cloud-2"]
    assert [r["TrainingJobName"] for r in cloud.created] == names
    notes: list[str] = jobs.notify.__self__  # type: ignore[attr-defined] # (list.append)
    assert any("the SageMaker run is cloud-job-cloud-2" in note for note in notes)
    long = "x" * 60
    jobs.create_training_job(spec(cloud_request(long), tmp_path))
    with pytest.raises(ResourceInUse, match="too long a name for SageMaker: --name"):
        jobs.create_training_job(spec(cloud_request(long), tmp_path))
    assert len(cloud.created) == 4  # SageMaker was not asked again


def test_a_job_not_yet_visible_is_recorded_as_starting(jobs: CloudJobs, tmp_path: Path,
                                                       cloud: FakeCloud) -> None:
    cloud.invisible = True
    jobs.create_training_job(spec(cloud_request(), tmp_path))
    record = jobs.store.record("cloud-job")
    assert (record["TrainingJobStatus"], record["SecondaryStatus"]) == ("InProgress", "Starting")
    assert record["CreationTime"] == jobs.clock.now()
    assert cloud_place(record) == PLACE.to_record()


def test_sagemakers_refusals_record_nothing(jobs: CloudJobs, tmp_path: Path,
                                           cloud: FakeCloud) -> None:
    cloud.refuse = CloudError("ValidationException in CreateTrainingJob: bad role",
                              "ValidationException", transient=False)
    with pytest.raises(ValidationException) as exc:
        jobs.create_training_job(spec(cloud_request(), tmp_path))
    assert paths(exc) == {"SageMaker"} and "bad role" in exc.value.problems[0].message
    cloud.refuse = CloudError("ResourceLimitExceeded in CreateTrainingJob: quota",
                              "ResourceLimitExceeded", transient=False)
    with pytest.raises(CloudError) as limit:
        jobs.create_training_job(spec(cloud_request(), tmp_path))
    assert limit.value.code == "ResourceLimitExceeded"
    assert not jobs.store.has_training_job("cloud-job")


# -- stopping, following, importing -------------------------------------------------------
def record_local_job(jobs: CloudJobs, name: str) -> None:
    request = cloud_request(name)
    rec = status.new_record(request, f"arn:aws:sagemaker:us-east-1:000000000000:"
                                     f"training-job/{name}", 1.0)
    jobs.store.create_training_job(rec, request, LocalOptions().to_json())


def test_stop_of_a_job_that_ran_here_is_not_found(jobs: CloudJobs, cloud: FakeCloud) -> None:
    record_local_job(jobs, "local-job")
    assert not jobs.is_cloud_job("local-job") and not jobs.is_cloud_job("nope")
    with pytest.raises(ResourceNotFound, match="ran here, not on SageMaker"):
        jobs.stop_training_job("local-job")
    with pytest.raises(ResourceNotFound, match="nope does not exist"):
        jobs.stop_training_job("nope")
    assert cloud.stopped == []


def test_stop_of_a_cloud_job(jobs: CloudJobs, tmp_path: Path, cloud: FakeCloud) -> None:
    jobs.create_training_job(spec(cloud_request(), tmp_path))
    jobs.stop_training_job("cloud-job")
    assert cloud.stopped == ["cloud-job"]
    notes: list[str] = jobs.notes  # type: ignore[attr-defined]
    assert notes[-1] == "training job cloud-job: StopTrainingJob sent to SageMaker"


def test_a_job_at_another_endpoint_is_not_reached(tmp_path: Path, cloud: FakeCloud) -> None:
    store = Store(tmp_path / "home")
    try:
        submitting = CloudJobs(store, clock=FakeClock())
        submitting.__dict__["cloud"] = cloud
        submitting.create_training_job(spec(cloud_request(), tmp_path))
        elsewhere = FakeCloud(Place("us-east-1", "http://127.0.0.1:5000"))
        other = CloudJobs(store, clock=FakeClock())
        other.__dict__["cloud"] = elsewhere
        for call in (other.stop_training_job, other.follow):
            with pytest.raises(ValidationException) as exc:
                call("cloud-job")
            assert paths(exc) == {"AWS_ENDPOINT_URL_SAGEMAKER"}
            assert "http://fake-sagemaker.test" in exc.value.problems[0].message
        assert cloud.stopped == [] and elsewhere.stopped == []
    finally:
        store.close()


def test_a_job_of_another_region_is_reached_there(jobs: CloudJobs,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    place = Place("eu-west-1", "https://api.sagemaker.eu-west-1.amazonaws.com")
    request = cloud_request("far-job")
    jobs.store.create_training_job(
        {**status.new_record(request, "arn", 1.0), "RanOn": place.to_record()}, request, {})
    reached = jobs._reaching("far-job")
    assert isinstance(reached, SageMakerCloud) and reached.place() == place


def test_import_of_an_unknown_job_is_not_found(jobs: CloudJobs) -> None:
    with pytest.raises(ResourceNotFound, match="SageMaker has no training job ghost"):
        jobs.import_training_job("ghost")
    assert not jobs.store.has_training_job("ghost")


def test_import_of_an_ended_job(jobs: CloudJobs, cloud: FakeCloud) -> None:
    cloud.jobs["done-job"] = {**cloud_request("done-job"), **answer("done-job", "Completed")}
    echoed: list[tuple[str, str, str]] = []
    final = jobs.import_training_job("done-job", lambda *line: echoed.append(line))
    assert final["TrainingJobStatus"] == "Completed" and cloud_place(final) == PLACE.to_record()
    assert final["CreationTime"] == CREATED.timestamp()
    request, local = jobs.store.request("done-job")
    assert request == cloud_request("done-job") and local == {"Backend": "sagemaker"}
    assert [(x.host, x.line) for x in jobs.store.iter_logs("done-job")] == [
        ("algo-1-1700000000", "hello from the cloud")]
    assert echoed == [("algo-1-1700000000", "stdout", "hello from the cloud")]
    with pytest.raises(ResourceInUse):
        jobs.import_training_job("done-job")


def test_a_name_given_with_name_is_never_changed(jobs: CloudJobs, tmp_path: Path,
                                                 cloud: FakeCloud) -> None:
    jobs.create_training_job(spec(cloud_request(), tmp_path))
    with pytest.raises(ResourceInUse, match="give the cloud run another --name"):
        jobs.create_training_job(spec(cloud_request(), tmp_path), rename=False)
    assert len(cloud.created) == 1


def test_a_name_sagemaker_has_already_is_ours_resource_in_use(jobs: CloudJobs, tmp_path: Path,
                                                              cloud: FakeCloud) -> None:
    cloud.refuse = CloudError("ResourceInUse in CreateTrainingJob: Training job cloud-job "
                              "already exists", "ResourceInUse", transient=False)
    with pytest.raises(ResourceInUse, match="smlocal import NAME"):
        jobs.create_training_job(spec(cloud_request(), tmp_path))
    assert not jobs.store.has_training_job("cloud-job")


def test_a_trial_of_a_tuning_job_on_sagemaker_is_imported_and_followed(
        jobs: CloudJobs, cloud: FakeCloud) -> None:
    """Its tuning job is not in this store: nothing else follows it here."""
    cloud.jobs["trial-001"] = {
        **cloud_request("trial-001"), **answer("trial-001", "Completed"),
        "TuningJobArn": "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/t"}
    final = jobs.import_training_job("trial-001")
    assert final["TrainingJobStatus"] == "Completed"
    assert [x.line for x in jobs.store.iter_logs("trial-001")] == ["hello from the cloud"]
