"""Tests for `smlocal validate`'s manners (issue 17): bad request files are refused at once
with exit code 2, nothing is written, and no Docker engine is needed."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from runner.engines.base import BackendError
from runner.engines.docker.backend import DockerBackend
from runner.interfaces.cli.main import main
from runner.store.jobs import Store
from runner.store.tuning import TuningStore, stored_tuning_job_exists

NO_ENGINE = "unix:///nonexistent/smlocal-test/docker.sock"
TRAINING = """\
TrainingJobName: demo-1
AlgorithmSpecification: {TrainingImage: IMAGE, TrainingInputMode: File}
InputDataConfig:
  - ChannelName: train
    DataSource: {S3DataSource: {S3DataType: S3Prefix, S3Uri: "file://data/train"}}
OutputDataConfig: {S3OutputPath: "file://out"}
ResourceConfig: {InstanceType: local, InstanceCount: 1, VolumeSizeInGB: 1}
StoppingCondition: {MaxRuntimeInSeconds: 60}
"""
TUNING = """\
HyperParameterTuningJobName: tune-1
HyperParameterTuningJobConfig:
  Strategy: Random
  HyperParameterTuningJobObjective: {Type: Minimize, MetricName: loss}
  ResourceLimits: {MaxNumberOfTrainingJobs: 2, MaxParallelTrainingJobs: 1}
  ParameterRanges:
    ContinuousParameterRanges: [{Name: lr, MinValue: "0.001", MaxValue: "0.1"}]
WarmStartConfig:
  ParentHyperParameterTuningJobs: [{HyperParameterTuningJobName: parent-1}]
  WarmStartType: IdenticalDataAndAlgorithm
TrainingJobDefinition:
  AlgorithmSpecification:
    TrainingImage: IMAGE
    TrainingInputMode: File
    MetricDefinitions: [{Name: loss, Regex: "loss=(\\\\S+)"}]
  InputDataConfig:
    - ChannelName: train
      DataSource: {S3DataSource: {S3DataType: S3Prefix, S3Uri: "file://data/train"}}
  OutputDataConfig: {S3OutputPath: "file://out"}
  ResourceConfig: {InstanceType: local, InstanceCount: 1, VolumeSizeInGB: 1}
  StoppingCondition: {MaxRuntimeInSeconds: 60}
"""
PARENT_MISSING = (
    "WarmStartConfig.ParentHyperParameterTuningJobs[0].HyperParameterTuningJobName: "
    "no tuning job 'parent-1' in this store\n"
)


@pytest.fixture(autouse=True)
def _signal_handlers(keep_signal_handlers: None) -> None:
    """Every test here calls main(), which installs signal handlers (see conftest)."""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current folder with a data folder, and no $SMLOCAL_HOME."""
    (tmp_path / "data" / "train").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SMLOCAL_HOME", raising=False)
    return tmp_path


def write(folder: Path, name: str, text: str, image: str = "smlocal/demo:latest") -> str:
    path = folder / name
    path.write_text(text.replace("IMAGE", image), encoding="utf-8")
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def files(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}


# -- 1: request files past a bound, through the command line ---------------------------------


def test_validate_refuses_an_alias_bomb_at_once(
    capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    bomb = "Tags:\n" + "".join(
        f"  - &l{i} [{', '.join(['lol' if i == 0 else f'*l{i - 1}'] * 10)}]\n" for i in range(12)
    )
    spec = write(workdir, "bomb.yaml", TRAINING + bomb)
    start = time.monotonic()
    code, out, err = run(capsys, "validate", "--no-image-check", spec)
    assert time.monotonic() - start < 1.0
    assert (code, out) == (2, "")
    assert err == (
        "Tags[4][7]: passes 100,000 values once the YAML aliases before it are expanded; "
        "a request holds far fewer\n"
    )


def test_validate_refuses_a_file_over_1_mib(
    capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    spec = write(workdir, "big.yaml", TRAINING + "# " + "x" * (1024 * 1024) + "\n")
    code, out, err = run(capsys, "validate", "--no-image-check", spec)
    assert (code, out) == (2, "")
    assert (
        err == f"{spec}: is larger than 1 MiB (1,048,576 bytes), the most a request file may hold\n"
    )


# -- 3: validate writes nothing -----------------------------------------------------------------


@pytest.mark.parametrize("text", [TRAINING, TUNING])
def test_validate_creates_no_store(
    capsys: pytest.CaptureFixture[str], workdir: Path, text: str
) -> None:
    spec = write(workdir, "job.yaml", text)
    before = files(workdir)
    code, out, err = run(capsys, "validate", "--no-image-check", spec)
    assert (code, out, err) == ((0, "valid\n", "") if text == TRAINING else (2, "", PARENT_MISSING))
    assert files(workdir) == before
    assert not (workdir / ".smlocal").exists()


def test_validate_in_a_read_only_checkout(
    capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    spec = write(workdir, "job.yaml", TUNING)
    workdir.chmod(0o555)
    try:
        code, out, err = run(capsys, "validate", "--no-image-check", spec)
    finally:
        workdir.chmod(0o755)
    assert (code, out, err) == (2, "", PARENT_MISSING)
    assert not (workdir / ".smlocal").exists()


def make_parent_store(home: Path, keep_open: bool = False) -> Store:
    store = Store(home)
    TuningStore(store).create(
        {
            "HyperParameterTuningJobName": "parent-1",
            "CreationTime": 1.0,
            "HyperParameterTuningJobStatus": "Completed",
        },
        {},
        {},
    )
    if not keep_open:
        store.close()
    return store


def test_validate_reads_warm_start_parents_without_writing(
    capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    home = workdir / "home"
    make_parent_store(home)
    spec = write(workdir, "job.yaml", TUNING)
    before = files(home)
    assert before.keys() == {"smlocal.db"}
    assert run(capsys, "--home", str(home), "validate", "--no-image-check", spec) == (
        0,
        "valid\n",
        "",
    )
    assert files(home) == before  # no -wal or -shm file left beside it, nothing changed


def test_validate_reads_a_store_that_another_process_writes(
    capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    store = make_parent_store(workdir / "home", keep_open=True)
    try:
        spec = write(workdir, "job.yaml", TUNING)
        assert run(capsys, "--home", str(store.home), "validate", "--no-image-check", spec) == (
            0,
            "valid\n",
            "",
        )
    finally:
        store.close()


def test_a_store_without_tuning_jobs_is_not_given_any(
    capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    home = workdir / "home"
    Store(home).close()
    spec = write(workdir, "job.yaml", TUNING)
    assert run(capsys, "--home", str(home), "validate", "--no-image-check", spec) == (
        2,
        "",
        PARENT_MISSING,
    )
    with sqlite3.connect(home / "smlocal.db") as db:
        tables = {
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    assert "tuning_jobs" not in tables


def test_stored_tuning_job_exists(tmp_path: Path) -> None:
    assert not stored_tuning_job_exists(tmp_path / "none", "parent-1")
    assert not (tmp_path / "none").exists()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "smlocal.db").write_text("not a database")
    assert not stored_tuning_job_exists(tmp_path / "junk", "parent-1")
    make_parent_store(tmp_path / "home")
    assert stored_tuning_job_exists(tmp_path / "home", "parent-1")
    assert not stored_tuning_job_exists(tmp_path / "home", "parent-2")


# -- 4: validate with no Docker engine ------------------------------------------------------------


@pytest.fixture
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)


@pytest.mark.parametrize("text", [TRAINING, TUNING.replace("parent-1", "p")])
def test_without_an_engine_every_other_check_runs_and_the_image_check_is_a_note(
    capsys: pytest.CaptureFixture[str], workdir: Path, no_engine: None, text: str
) -> None:
    spec = write(workdir, "job.yaml", text)
    code, out, err = run(capsys, "validate", spec)
    if text == TRAINING:
        assert (code, out) == (0, "valid\n")
    else:  # the parent is looked for in a store that is not there
        assert (code, out) == (2, "")
        assert (
            "WarmStartConfig.ParentHyperParameterTuningJobs[0].HyperParameterTuningJobName: " in err
        )
    assert err.startswith("smlocal: note: image check skipped: no Docker engine answers (")
    assert "internal error" not in err


def test_without_an_engine_problems_are_still_found(
    capsys: pytest.CaptureFixture[str], workdir: Path, no_engine: None
) -> None:
    spec = write(workdir, "job.yaml", TRAINING.replace("InstanceCount: 1", "InstanceCount: 0"))
    code, out, err = run(capsys, "validate", spec)
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert lines[0].startswith("smlocal: note: image check skipped: no Docker engine answers")
    assert lines[1:] == ["ResourceConfig.InstanceCount: must be at least 1"]


def test_require_image_makes_a_missing_engine_an_error(
    capsys: pytest.CaptureFixture[str], workdir: Path, no_engine: None
) -> None:
    spec = write(workdir, "job.yaml", TRAINING)
    code, out, err = run(capsys, "validate", "--require-image", spec)
    assert (code, out) == (1, "")
    assert err.startswith(
        "smlocal: the image check could not run (--require-image): no Docker engine answers ("
    )
    bad = write(workdir, "bad.yaml", TRAINING.replace("InstanceCount: 1", "InstanceCount: 0"))
    code, out, err = run(capsys, "validate", "--require-image", bad)
    assert (code, out) == (2, "")
    assert err.splitlines()[0] == "ResourceConfig.InstanceCount: must be at least 1"
    assert err.splitlines()[1].startswith(
        "smlocal: the image check could not run (--require-image): "
    )


def test_require_image_and_no_image_check_contradict(
    capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    spec = write(workdir, "job.yaml", TRAINING)
    assert run(capsys, "validate", "--no-image-check", "--require-image", spec) == (
        2,
        "",
        "--require-image: cannot go with --no-image-check\n",
    )


# -- an image reference that is already invalid is not inspected -----------------------------------


def as_definitions(text: str) -> str:
    """The tuning request with its TrainingJobDefinition as TrainingJobDefinitions[0]."""
    head, body = text.split("TrainingJobDefinition:\n")
    return (
        head
        + "TrainingJobDefinitions:\n  - DefinitionName: d1\n"
        + "".join(f"  {line}\n" for line in body.splitlines())
    )


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (TRAINING, "AlgorithmSpecification.TrainingImage"),
        (
            TUNING.replace("parent-1", "p"),
            "TrainingJobDefinition.AlgorithmSpecification.TrainingImage",
        ),
        (
            as_definitions(TUNING.replace("parent-1", "p")),
            "TrainingJobDefinitions[0].AlgorithmSpecification.TrainingImage",
        ),
    ],
)
@pytest.mark.parametrize("command", ["validate", "run"])
def test_an_image_name_over_255_characters_is_bad_input(
    capsys: pytest.CaptureFixture[str],
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    path: str,
    command: str,
) -> None:
    def inspect(self: Any, image: str) -> bool:
        raise BackendError(f"cannot inspect image {image!r}: invalid reference format")

    monkeypatch.setattr(DockerBackend, "image_exists", inspect)
    spec = write(workdir, "job.yaml", text, image="smlocal/" + "n" * 300 + ":latest")
    if command == "validate":
        code, out, err = run(capsys, "validate", spec)
        assert sorted(os.listdir(workdir)) == ["data", "job.yaml"]
    else:  # `smlocal train` or `smlocal tune`, which validate first
        run_command = "tune" if "Tuning" in text else "train"
        code, out, err = run(capsys, "--home", str(workdir / "home"), run_command, spec)
    assert (code, out) == (2, "")
    assert f"{path}: must be at most 255 characters (got 315)" in err.splitlines()
    assert "cannot inspect image" not in err


def test_validate_warns_about_regexes_that_backtrack_with_their_paths(
    capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    text = TRAINING.replace(
        "TrainingInputMode: File}",
        'TrainingInputMode: File, MetricDefinitions: [{Name: ok, Regex: "ok=(\\\\S+)"}, '
        '{Name: bad, Regex: "(a|aa)+$"}, {Name: look, Regex: "(?=x)x=(\\\\d+)"}]}',
    )
    code, out, err = run(capsys, "validate", "--no-image-check", write(workdir, "job.yaml", text))
    assert (code, out) == (0, "valid\n")
    path = "AlgorithmSpecification.MetricDefinitions"
    warned = [line for line in err.splitlines() if line.startswith("smlocal: warning: ")]
    assert [w.split(": ")[2] for w in warned] == [f"{path}[1].Regex", f"{path}[2].Regex"]
    assert "super-linear" in warned[0] and "RE2 refuses it" in warned[1]


# -- cloud limits -------------------------------------------------------------------------------


def test_for_cloud_prints_the_worst_case_and_says_quotas_were_not_read(
    capsys: pytest.CaptureFixture[str], workdir: Path
) -> None:
    text = (TRAINING.replace("InstanceType: local", "InstanceType: ml.m5.xlarge")
            .replace('"file://data/train"', '"s3://b/train"').replace('"file://out"', '"s3://b/o"')
            + "RoleArn: arn:aws:iam::123456789012:role/R\n")
    spec = write(workdir, "cloud.yaml", text)
    code, out, err = run(capsys, "validate", "--no-image-check", "--for-cloud", spec)
    assert (code, out) == (0, "valid\n"), err
    assert ("smlocal: note: worst case 0.02 instance-hours: MaxRuntimeInSeconds x InstanceCount"
            in err)
    assert "smlocal: note: quotas not checked (--quotas reads" in err
    code, _, err = run(capsys, "validate", "--no-image-check", "--quotas", spec)
    assert (code, err) == (2, "--quotas: goes with --for-cloud\n")
