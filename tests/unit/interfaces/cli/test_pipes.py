"""Tests for runner.interfaces.cli.main and runner.interfaces.cli.closed_pipe: a reader that goes
away (`smlocal logs NAME | head`) ends every printing command quietly, exit code 141, as it ends
`cat` (issue 17)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from runner.interfaces.cli import main as cli
from runner.interfaces.cli.main import main
from runner.store.jobs import Store

ROOT = Path(__file__).resolve().parents[4]
TRAINING = """\
TrainingJobName: demo-1
AlgorithmSpecification: {TrainingImage: smlocal/demo:latest, TrainingInputMode: File}
InputDataConfig:
  - ChannelName: train
    DataSource: {S3DataSource: {S3DataType: S3Prefix, S3Uri: "file://data/train"}}
OutputDataConfig: {S3OutputPath: "file://out"}
ResourceConfig: {InstanceType: local, InstanceCount: 1, VolumeSizeInGB: 1}
StoppingCondition: {MaxRuntimeInSeconds: 60}
"""


@pytest.fixture(autouse=True)
def _signal_handlers(keep_signal_handlers: None) -> None:
    """Every test here calls main(), which installs signal handlers (see conftest)."""


class ClosedPipe(io.TextIOBase):
    """A stdout whose reader is gone."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.fixture
def store_with_logs(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    store = Store(home)
    record = {
        "TrainingJobName": "job-1",
        "CreationTime": 1.0,
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
    }
    store.create_training_job(record, {}, {})
    store.add_logs(
        "job-1", [("algo-1", "stdout", 1.0, f"line {i} " + "x" * 40) for i in range(50_000)]
    )
    store.close()
    return home


@pytest.mark.parametrize(
    "argv", [["logs", "job-1"], ["list"], ["list", "--output", "json"], ["describe", "job-1"]]
)
def test_a_closed_stdout_ends_every_printing_command_quietly(
    argv: list[str],
    store_with_logs: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    code = main(["--home", str(store_with_logs), *argv])
    assert code == cli.EXIT_CLOSED_PIPE == 141
    assert capsys.readouterr().err == ""


def test_validate_with_a_closed_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "job.yaml").write_text(TRAINING)
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["validate", "--no-image-check", str(tmp_path / "job.yaml")]) == 141
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("merged", [False, True])
def test_smlocal_logs_into_head(store_with_logs: Path, merged: bool) -> None:
    """`smlocal logs NAME | head -1` (and `2>&1 | head -1`): the first line, then a quiet end,
    no "internal error" and no "Exception ignored" at the interpreter's exit."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(store_with_logs), "logs",
         "job-1"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merged else subprocess.PIPE,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # as head does once it has its line
    err = b"" if proc.stderr is None else proc.stderr.read()
    if proc.stderr is not None:
        proc.stderr.close()
    assert proc.wait(timeout=60) == 141
    assert first.startswith(b"line 0 ")
    assert err == b""


def test_a_job_goes_on_when_the_reader_of_its_output_goes_away(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    cli._job_echo("algo-1", "stdout", "epoch 1")  # no BrokenPipeError: the run carries on
    cli._job_echo("algo-1", "stdout", "epoch 2")
