"""``smlocal diff A B`` of two training jobs (runner.api.job_diff), on a real store holding two
jobs whose artifacts are real tar.gz files under file:// URIs: what is compared (and makes
them disagree), what is only shown, and what is never listed."""

from __future__ import annotations

import copy
import functools
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from runner.api.job_diff import (
    JobDiff,
    Row,
    artifact_chunks,
    diff_training_jobs,
    relative_difference,
)
from runner.shapes.training_jobs import PLACE_KEY
from runner.store.jobs import Store

PLACE = {"Backend": "sagemaker", "Region": "us-east-1",
         "EndpointUrl": "https://api.sagemaker.us-east-1.amazonaws.com"}
T0 = 1_714_564_800.0
LOSS = {"Name": "train:loss", "Regex": r"loss=(\S+)"}
SEQUENCE = ("Starting", "Downloading", "Training", "Uploading", "Completed")
MODEL = {"model.pth": b"weights" * 10, "config.json": b"{}"}
OUTPUT = {"metrics.json": b'{"loss": 0.5}'}


def request(name: str, **changes: Any) -> dict[str, Any]:
    """A CreateTrainingJob request; ``changes``: top-level fields replaced."""
    out: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "demo:1", "TrainingInputMode": "File",
                                   "MetricDefinitions": [LOSS]},
        "HyperParameters": {"epochs": "2", "lr": "0.1"},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/out/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    out.update(changes)
    return out


def write_tar_gz(path: Path, files: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        folder = tarfile.TarInfo("sub")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)  # (a folder: not a file, never listed)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def artifacts(tmp_path: Path, job: str, model: dict[str, bytes] | None = None,
              output: dict[str, bytes] | None = None) -> str:
    """model.tar.gz and output.tar.gz beside it, under ``tmp_path``; model.tar.gz's URI."""
    folder = tmp_path / "out" / job / "output"
    write_tar_gz(folder / "model.tar.gz", MODEL if model is None else model)
    write_tar_gz(folder / "output.tar.gz", OUTPUT if output is None else output)
    return (folder / "model.tar.gz").as_uri()


def record(name: str, model_uri: str | None, *, status: str = "Completed",
           sequence: tuple[str, ...] = SEQUENCE, metrics: dict[str, float] | None = None,
           created: float = T0, place: dict[str, str] | None = None,
           failure: str | None = None) -> dict[str, Any]:
    """A DescribeTrainingJob record as the store keeps it (times as epoch seconds)."""
    out: dict[str, Any] = {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "TrainingJobStatus": status, "SecondaryStatus": sequence[-1],
        "CreationTime": created, "LastModifiedTime": created + 300,
        "TrainingStartTime": created + 60, "TrainingEndTime": created + 290,
        "SecondaryStatusTransitions": [
            {"Status": s, "StartTime": created + 10 * i, "StatusMessage": f"{s}..."}
            for i, s in enumerate(sequence)],
        "FinalMetricDataList": [
            {"MetricName": k, "Value": v, "Timestamp": created + 280}
            for k, v in ({"train:loss": 0.5} if metrics is None else metrics).items()],
        "TrainingTimeInSeconds": 230, "BillableTimeInSeconds": 230,
    }
    if model_uri is not None:
        out["ModelArtifacts"] = {"S3ModelArtifacts": model_uri}
    if place is not None:
        out[PLACE_KEY] = place
    if failure is not None:
        out["FailureReason"] = failure
    return out


def chunks(uri: str) -> Iterator[bytes]:
    """A file:// URI's bytes, a few at a time (as an S3 object's body arrives)."""
    assert uri.startswith("file://"), uri
    with open(unquote(urlsplit(uri).path), "rb") as f:
        yield from iter(lambda: f.read(7), b"")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "home")
    yield store
    store.close()


def put(store: Store, rec: dict[str, Any], req: dict[str, Any] | None = None,
        series: list[tuple[str, float, float]] | None = None) -> str:
    name = str(rec["TrainingJobName"])
    store.create_training_job(rec, req if req is not None else request(name), {})
    store.add_metrics(name, series if series is not None else [
        ("train:loss", 0.9, rec["CreationTime"] + 100),
        ("train:loss", 0.5, rec["CreationTime"] + 200)])
    return name


def pair(store: Store, tmp_path: Path, **b: Any) -> JobDiff:
    """``here`` (a local run) against ``there`` (the same request on SageMaker), ``there``
    changed by ``b`` (record()'s arguments; ``model``/``output``: its archives' files)."""
    model, output = b.pop("model", None), b.pop("output", None)
    put(store, record("here", artifacts(tmp_path, "here")))
    put(store, record("there", artifacts(tmp_path, "there", model, output),
                      **{"created": T0 + 5000, "place": PLACE, **b}))
    return diff_training_jobs(store, "here", "there", chunks)


def row(diff: JobDiff, field: str) -> Row:
    found = [r for r in diff.rows if r.field == field]
    assert len(found) == 1, f"{field!r} in {[r.field for r in diff.rows]}"
    return found[0]


def disagreeing(diff: JobDiff) -> list[str]:
    return [r.field for r in diff.rows if r.agrees is False]


# -- agreeing ------------------------------------------------------------------------------
def test_two_runs_of_one_request_agree(store: Store, tmp_path: Path) -> None:
    diff = pair(store, tmp_path)
    assert diff.agree and disagreeing(diff) == []
    assert (diff.a, diff.b) == ("here", "there")
    assert row(diff, "where") == Row(
        "where", "here", "SageMaker (us-east-1, https://api.sagemaker.us-east-1.amazonaws.com)")
    assert row(diff, "TrainingJobStatus") == Row("TrainingJobStatus", "Completed", "Completed",
                                                 True)
    sequence = " > ".join(SEQUENCE)
    assert row(diff, "SecondaryStatus sequence").agrees is True
    assert row(diff, "SecondaryStatus sequence").a == sequence
    assert row(diff, "final train:loss").agrees is True
    assert row(diff, "series train:loss") == Row("series train:loss", "2 values, last 0.5",
                                                 "2 values, last 0.5")
    files = row(diff, "model.tar.gz files")
    assert (files.a, files.b, files.agrees) == ("config.json, model.pth",
                                                "config.json, model.pth", True)
    assert row(diff, "output.tar.gz files").agrees is True
    assert row(diff, "TrainingTimeInSeconds") == Row("TrainingTimeInSeconds", "230", "230")
    # names, ARNs and times differ and are never listed; neither is a request difference
    fields = [r.field for r in diff.rows]
    assert not any(f.startswith("request ") for f in fields)
    assert not any(word in f for f in fields
                   for word in ("Arn", "CreationTime", "LastModifiedTime", "Name"))
    assert "FailureReason" not in fields  # neither gave one
    assert not any(f.endswith(" bytes") for f in fields)  # same files, same sizes
    assert diff.to_json()["Agree"] is True
    assert diff.to_json()["Rows"][0] == {"field": "where", "a": "here", "b": row(diff, "where").b,
                                         "agrees": None}


def test_a_job_compared_with_itself_agrees(store: Store, tmp_path: Path) -> None:
    put(store, record("here", artifacts(tmp_path, "here")))
    diff = diff_training_jobs(store, "here", "here", chunks)
    assert diff.agree and row(diff, "where") == Row("where", "here", "here")


def test_jobs_without_artifacts_have_no_artifact_rows(store: Store) -> None:
    put(store, record("a", None))
    put(store, record("b", None))
    diff = diff_training_jobs(store, "a", "b", chunks)
    assert diff.agree
    assert not any(r.field.startswith(("model.tar.gz", "output.tar.gz")) for r in diff.rows)


# -- disagreeing ---------------------------------------------------------------------------
@pytest.mark.parametrize("change, field", [
    ({"status": "Stopped"}, "TrainingJobStatus"),
    ({"sequence": ("Starting", "Downloading", "Training", "Completed")},
     "SecondaryStatus sequence"),
    ({"sequence": ("Starting", "Training", "Downloading", "Uploading", "Completed")},
     "SecondaryStatus sequence"),
    ({"metrics": {"train:loss": 0.52}}, "final train:loss"),  # 3.8 % apart
    ({"metrics": {"train:loss": 0.5, "validation:loss": 0.7}}, "final validation:loss"),
    ({"metrics": {}}, "final train:loss"),
    ({"model": {"model.pth": b"weights" * 10, "config.yaml": b"{}"}}, "model.tar.gz files"),
    ({"model": {"model.pth": b"weights" * 10}}, "model.tar.gz files"),
    ({"output": {}}, "output.tar.gz files"),
])
def test_a_difference_in_the_outcome_disagrees(store: Store, tmp_path: Path,
                                               change: dict[str, Any], field: str) -> None:
    diff = pair(store, tmp_path, **change)
    assert not diff.agree
    assert disagreeing(diff) == [field]
    assert diff.to_json()["Agree"] is False


def test_a_status_difference_shows_both(store: Store, tmp_path: Path) -> None:
    diff = pair(store, tmp_path, status="Stopped",
                sequence=("Starting", "Downloading", "Training", "Stopped"))
    assert row(diff, "TrainingJobStatus") == Row("TrainingJobStatus", "Completed", "Stopped",
                                                 False)
    assert row(diff, "SecondaryStatus sequence").b == "Starting > Downloading > Training > Stopped"
    assert disagreeing(diff) == ["TrainingJobStatus", "SecondaryStatus sequence"]


def test_a_metric_one_job_lacks_is_shown_as_missing(store: Store, tmp_path: Path) -> None:
    diff = pair(store, tmp_path, metrics={"train:loss": 0.5, "validation:loss": 0.7})
    assert row(diff, "final validation:loss") == Row("final validation:loss", "-", "0.7", False)


def test_a_final_metric_past_the_tolerance(store: Store, tmp_path: Path) -> None:
    diff = pair(store, tmp_path, metrics={"train:loss": 0.6})
    loss = row(diff, "final train:loss")
    assert (loss.a, loss.b, loss.agrees) == ("0.5", "0.6 (16.67% apart)", False)


def test_a_final_metric_within_the_tolerance_agrees(store: Store, tmp_path: Path) -> None:
    diff = pair(store, tmp_path, metrics={"train:loss": 0.504})  # 0.79 % apart
    loss = row(diff, "final train:loss")
    assert (loss.a, loss.b, loss.agrees) == ("0.5", "0.504 (0.79% apart)", True)
    assert diff.agree
    # the same two jobs under a tighter tolerance
    tight = diff_training_jobs(store, "here", "there", chunks, metric_tolerance=0.005)
    assert not tight.agree and disagreeing(tight) == ["final train:loss"]
    # 0.79 % apart: just past 0.0079, just within 0.008
    assert not diff_training_jobs(store, "here", "there", chunks, metric_tolerance=0.0079).agree
    assert diff_training_jobs(store, "here", "there", chunks, metric_tolerance=0.008).agree


def test_the_tolerance_is_inclusive_at_its_edge(store: Store) -> None:
    put(store, record("a", None, metrics={"m": 100.0}))
    put(store, record("b", None, metrics={"m": 99.0}))
    assert relative_difference(100.0, 99.0) == pytest.approx(0.01)
    assert row(diff_training_jobs(store, "a", "b", chunks, 0.01), "final m").agrees is True
    assert row(diff_training_jobs(store, "a", "b", chunks, 0.0099), "final m").agrees is False


def test_non_finite_final_metrics_are_left_out(store: Store) -> None:
    put(store, record("a", None, metrics={"m": 1.0, "nan": float("nan")}))
    put(store, record("b", None, metrics={"m": 1.0, "nan": float("nan")}))
    diff = diff_training_jobs(store, "a", "b", chunks)
    assert diff.agree and not any(r.field == "final nan" for r in diff.rows)


def test_different_file_sizes_alone_are_shown_not_compared(store: Store, tmp_path: Path) -> None:
    diff = pair(store, tmp_path, model={"model.pth": b"weights" * 12, "config.json": b"{}"})
    assert diff.agree and disagreeing(diff) == []
    assert row(diff, "model.tar.gz files").agrees is True
    assert row(diff, "model.tar.gz model.pth bytes") == Row("model.tar.gz model.pth bytes",
                                                            "70", "84")
    assert not any(r.field == "model.tar.gz config.json bytes" for r in diff.rows)


def test_a_file_only_one_archive_has_is_shown_with_its_size(store: Store, tmp_path: Path) -> None:
    diff = pair(store, tmp_path, output={**OUTPUT, "extra.txt": b"12345"})
    files = row(diff, "output.tar.gz files")
    assert (files.a, files.b, files.agrees) == ("metrics.json", "extra.txt, metrics.json", False)
    assert row(diff, "output.tar.gz extra.txt bytes") == Row("output.tar.gz extra.txt bytes",
                                                             "-", "5")


def test_an_empty_archive_is_told_as_empty(store: Store, tmp_path: Path) -> None:
    diff = pair(store, tmp_path, output={})
    assert row(diff, "output.tar.gz files") == Row("output.tar.gz files", "metrics.json",
                                                   "(empty)", False)


# -- FailureReason -------------------------------------------------------------------------
@pytest.mark.parametrize("fa, fb, agrees", [
    ("AlgorithmError: loss became NaN at epoch 3",
     "AlgorithmError: ExecuteUserScriptError: exit code 1", True),
    ("AlgorithmError: out of memory", "ClientError: Data download failed", False),
    ("AlgorithmError: exit code 1", None, False),
    (None, "ClientError: bad channel", False),
    (": a reason of no kind", None, False),  # given or not decides before the kind
])
def test_failure_reasons_are_compared_by_kind(store: Store, fa: str | None, fb: str | None,
                                              agrees: bool) -> None:
    put(store, record("a", None, status="Failed", failure=fa))
    put(store, record("b", None, status="Failed", failure=fb))
    diff = diff_training_jobs(store, "a", "b", chunks)
    reason = row(diff, "FailureReason")
    assert (reason.a, reason.b, reason.agrees) == (fa or "-", fb or "-", agrees)
    assert diff.agree is agrees
    assert disagreeing(diff) == ([] if agrees else ["FailureReason"])


# -- the requests --------------------------------------------------------------------------
def test_request_differences_are_listed_not_compared(store: Store, tmp_path: Path) -> None:
    put(store, record("here", None), request("here", ResourceConfig={
        "InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 10}))
    put(store, record("there", None, place=PLACE), request(
        "there", HyperParameters={"epochs": "3", "lr": "0.1"},
        EnableManagedSpotTraining=True,
        AlgorithmSpecification={"TrainingImage": "1234.dkr.ecr.us-east-1.amazonaws.com/demo:1",
                                "TrainingInputMode": "File", "MetricDefinitions": [LOSS]}))
    diff = diff_training_jobs(store, "here", "there", chunks)
    requested = [r for r in diff.rows if r.field.startswith("request ")]
    assert requested == [
        Row("request AlgorithmSpecification.TrainingImage", "demo:1",
            "1234.dkr.ecr.us-east-1.amazonaws.com/demo:1"),
        Row("request EnableManagedSpotTraining", "-", "True"),
        Row("request HyperParameters.epochs", "2", "3"),
        Row("request ResourceConfig.InstanceType", "local", "ml.m5.large"),
    ]
    assert diff.agree  # shown, never compared
    assert not any("TrainingJobName" in r.field for r in diff.rows)


def test_list_members_of_requests_are_listed_by_index(store: Store) -> None:
    channel: dict[str, Any] = {"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": "s3://bucket/train/"}}}
    other = copy.deepcopy(channel)
    other["DataSource"]["S3DataSource"]["S3Uri"] = "file://data"
    put(store, record("a", None), request("a", InputDataConfig=[channel]))
    put(store, record("b", None), request("b", InputDataConfig=[other, channel]))
    fields = {r.field: (r.a, r.b) for r in diff_training_jobs(store, "a", "b", chunks).rows
              if r.field.startswith("request ")}
    assert fields["request InputDataConfig[0].DataSource.S3DataSource.S3Uri"] == (
        "s3://bucket/train/", "file://data")
    assert fields["request InputDataConfig[1].ChannelName"] == ("-", "train")
    assert "request InputDataConfig[0].ChannelName" not in fields


# -- artifacts that cannot be read -----------------------------------------------------------
def test_a_missing_artifact_is_told_without_a_crash(store: Store, tmp_path: Path) -> None:
    uri = artifacts(tmp_path, "here")
    put(store, record("here", uri))
    missing = (tmp_path / "nowhere" / "output" / "model.tar.gz").as_uri()
    put(store, record("there", missing, place=PLACE))
    diff = diff_training_jobs(store, "here", "there", chunks)
    model = row(diff, "model.tar.gz")
    assert model.a == "2 files"
    assert model.b.startswith(f"cannot read {missing}: ") and "No such file" in model.b
    assert model.agrees is False
    output = row(diff, "output.tar.gz")
    assert output.b.startswith(f"cannot read {missing[:-len('model.tar.gz')]}output.tar.gz")
    assert not diff.agree
    assert not any(r.field.endswith(" files") for r in diff.rows)


def test_an_archive_cut_short_is_told(store: Store, tmp_path: Path) -> None:
    uri = artifacts(tmp_path, "there")
    path = Path(unquote(urlsplit(uri).path))
    path.write_bytes(path.read_bytes()[:20])
    put(store, record("here", artifacts(tmp_path, "here")))
    put(store, record("there", uri))
    model = row(diff_training_jobs(store, "here", "there", chunks), "model.tar.gz")
    assert model.a == "2 files" and model.b.startswith(f"cannot read {uri}: ")


def test_artifacts_only_one_job_has(store: Store, tmp_path: Path) -> None:
    put(store, record("here", artifacts(tmp_path, "here")))
    put(store, record("there", None))
    diff = diff_training_jobs(store, "here", "there", chunks)
    assert row(diff, "model.tar.gz") == Row("model.tar.gz", "2 files", "no artifacts", False)
    assert row(diff, "output.tar.gz") == Row("output.tar.gz", "1 files", "no artifacts", False)


# -- relative_difference ---------------------------------------------------------------------
@pytest.mark.parametrize("a, b, expected", [
    (0.0, 0.0, 0.0), (1.0, 1.0, 0.0), (1.0, 0.0, 1.0), (2.0, 1.0, 0.5), (-1.0, 1.0, 2.0),
    (-4.0, -2.0, 0.5), (1e-12, 2e-12, 0.5),
])
def test_relative_difference(a: float, b: float, expected: float) -> None:
    assert relative_difference(a, b) == pytest.approx(expected)
    assert relative_difference(b, a) == relative_difference(a, b)


# -- reading artifacts where the record says ---------------------------------------------------
def test_artifact_chunks_reads_a_file_uri(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "with space"
    uri = artifacts(folder, "here")
    assert "%20" in uri
    no_aws: Any = None  # (a file:// URI never reaches AWS)
    assert b"".join(artifact_chunks(no_aws, uri)) == Path(unquote(urlsplit(uri).path)).read_bytes()
    put(store, record("here", uri))
    put(store, record("there", artifacts(folder, "there")))
    diff = diff_training_jobs(store, "here", "there", functools.partial(artifact_chunks, no_aws))
    assert diff.agree and row(diff, "model.tar.gz files").a == "config.json, model.pth"
