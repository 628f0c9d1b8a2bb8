"""Tests for runner.interfaces.cli.main: bad input ends with exit code 2, one line per problem, no
traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.interfaces.cli.main import main
from runner.shapes import status
from runner.store import lease
from runner.store.jobs import Store

VALID = """\
TrainingJobName: demo-1
AlgorithmSpecification:
  TrainingImage: smlocal/demo:latest
  TrainingInputMode: File
  MetricDefinitions:
    - {Name: "train:loss", Regex: "loss=(\\\\S+)"}
InputDataConfig:
  - ChannelName: train
    DataSource:
      S3DataSource: {S3DataType: S3Prefix, S3Uri: "file://data/train"}
OutputDataConfig:
  S3OutputPath: "file://out"
ResourceConfig:
  InstanceType: local
  InstanceCount: 1
  VolumeSizeInGB: 1
StoppingCondition:
  MaxRuntimeInSeconds: 60
"""


@pytest.fixture(autouse=True)
def _signal_handlers(keep_signal_handlers: None) -> None:
    """Every test here calls main(), which installs signal handlers (see conftest)."""


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    (tmp_path / "data" / "train").mkdir(parents=True)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_no_traceback(err: str) -> None:
    assert "Traceback" not in err
    assert 'File "' not in err


def test_validate_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    code, out, err = run(capsys, "validate", "--no-image-check", str(missing))
    assert code == 2
    assert out == ""
    assert err == f"{missing}: cannot read: No such file or directory\n"


def test_validate_yaml_syntax_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("TrainingJobName: demo\nResourceConfig:\n  InstanceType: [local\n")
    code, out, err = run(capsys, "validate", "--no-image-check", str(path))
    assert code == 2
    assert out == ""
    assert err.startswith(f"{path}: not valid YAML: line 4 column 1: ")
    assert err.count("\n") == 1
    assert_no_traceback(err)


def test_validate_json_syntax_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    path.write_text('{"TrainingJobName": }')
    code, _, err = run(capsys, "validate", "--no-image-check", str(path))
    assert code == 2
    assert err == f"{path}: not valid JSON: line 1 column 21: Expecting value\n"


def test_validate_request_with_problems(capsys: pytest.CaptureFixture[str], job_dir: Path) -> None:
    text = (
        VALID.replace("file://data/train", "file://data/missing")
        .replace("InstanceCount: 1", "InstanceCount: 9")
        .replace('"loss=(\\\\S+)"', '"loss=\\\\S+"')
    )
    path = job_dir / "job.yaml"
    path.write_text(text)
    code, out, err = run(capsys, "validate", "--no-image-check", str(path))
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [
        "AlgorithmSpecification.MetricDefinitions[0].Regex",
        "InputDataConfig[0].DataSource.S3DataSource.S3Uri",
        "ResourceConfig.InstanceCount",
    ]
    assert lines[1] == (
        "InputDataConfig[0].DataSource.S3DataSource.S3Uri: no such file or folder: "
        f"{(job_dir / 'data' / 'missing').resolve()}"
    )
    assert lines[2] == ("ResourceConfig.InstanceCount: smlocal runs at most 8 hosts locally, each "
                        "a container on this machine (got 9)")
    assert_no_traceback(err)


def test_validate_local_section_problem(capsys: pytest.CaptureFixture[str], job_dir: Path) -> None:
    path = job_dir / "job.yaml"
    path.write_text(VALID + "Local: {Gpus: some, Build: {Context: nope}}\n")
    code, _, err = run(capsys, "validate", "--no-image-check", str(path))
    assert code == 2
    assert err.splitlines() == [
        f"Local.Build.Context: is not a folder: {(job_dir / 'nope').resolve()}",
        "Local.Gpus: must be 'all' or a comma-separated list of device indexes (got 'some')",
    ]


def test_validate_valid_local_request(capsys: pytest.CaptureFixture[str], job_dir: Path) -> None:
    path = job_dir / "job.yaml"
    path.write_text(VALID)
    code, out, err = run(capsys, "validate", "--no-image-check", str(path))
    assert code == 0
    assert out == "valid\n"
    assert err == ""


def test_validate_for_cloud(capsys: pytest.CaptureFixture[str], job_dir: Path) -> None:
    path = job_dir / "job.yaml"
    path.write_text(VALID)
    code, out, err = run(capsys, "validate", "--no-image-check", "--for-cloud", str(path))
    assert code == 2
    assert out == ""
    assert "RoleArn: is required by the cloud" in err.splitlines()
    assert_no_traceback(err)


def test_describe_unknown_job(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "--home", str(tmp_path), "describe", "ghost")
    assert code == 2
    assert out == ""
    assert err == "smlocal: Could not find job ghost\n"


def test_stop_unknown_job(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, "--home", str(tmp_path), "stop", "ghost")
    assert code == 2
    assert out == ""
    assert err == "smlocal: Could not find job ghost\n"


def test_logs_unknown_job(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "--home", str(tmp_path), "logs", "ghost")
    assert code == 2
    assert err == "smlocal: Could not find job ghost\n"


def test_stop_an_ended_job(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store = Store(tmp_path)
    record = status.new_record({"TrainingJobName": "done"}, "arn:x", 1_700_000_000.0)
    status.advance(record, "Completed", 1_700_000_001.0)
    store.create_training_job(record, {}, {})
    store.close()
    code, _, err = run(capsys, "--home", str(tmp_path), "stop", "done")
    assert code == 2
    assert err == "done: the training job already ended as Completed; nothing to stop\n"


def test_stop_and_describe_a_running_job(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store = Store(tmp_path)
    record = status.new_record({"TrainingJobName": "running"}, "arn:x", 1_700_000_000.0)
    store.create_training_job(record, {}, {})
    # its runner lives: it does the stopping
    runner = lease.try_acquire(tmp_path, "training", "running")
    assert runner is not None
    code, _, err = run(capsys, "--home", str(tmp_path), "stop", "running")
    runner.release()
    assert code == 0
    assert err == "smlocal: stop requested for running\n"
    assert store.stop_requested("running")
    code, out, _ = run(capsys, "--home", str(tmp_path), "describe", "running")
    assert code == 0
    assert '"CreationTime": "2023-11-14T22:13:20+00:00"' in out
    store.close()


def test_the_wrong_command_for_the_request(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    tuning = tmp_path / "tuning.yaml"
    tuning.write_text(
        "HyperParameterTuningJobName: t\nHyperParameterTuningJobConfig: {Strategy: Random}\n")
    training = tmp_path / "training.yaml"
    training.write_text("TrainingJobName: t\n")
    code, _, err = run(capsys, "--home", str(tmp_path / "home"), "train", str(tuning))
    assert ((code, err.strip()) == (2, f"{tuning}: holds a CreateHyperParameterTuningJob request: "
                                       "run it with `smlocal tune`"))
    code, _, err = run(capsys, "--home", str(tmp_path / "home"), "tune", str(training))
    assert ((code, err.strip())
            == (2, f"{training}: holds a CreateTrainingJob request: run it with `smlocal train`"))


def test_an_unexpected_error_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from runner.interfaces.cli import main as cli

    def broken(args: object) -> int:
        raise KeyError("S3DataSource")

    monkeypatch.setitem(cli._COMMANDS, "list", broken)
    monkeypatch.delenv("SMLOCAL_DEBUG", raising=False)
    assert main(["--home", str(tmp_path), "list"]) == 1
    err = capsys.readouterr().err
    assert err == ("smlocal: internal error: KeyError: 'S3DataSource' (SMLOCAL_DEBUG=1 shows the "
                   "traceback)\n")
    monkeypatch.setenv("SMLOCAL_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["--home", str(tmp_path), "list"])


def test_train_needs_a_spec_or_resume(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["--home", str(tmp_path), "train"]) == 2
    assert capsys.readouterr().err == "SPEC: a request file is required (or --resume NAME)\n"
    assert main(["--home", str(tmp_path), "train", "--resume", "no-such-job"]) == 2
    assert "no-such-job" in capsys.readouterr().err


@pytest.mark.parametrize("grace", ["nan", "inf", "-1"])
def test_grace_must_be_a_finite_number(
    capsys: pytest.CaptureFixture[str], job_dir: Path, grace: str
) -> None:
    spec = job_dir / "job.yaml"
    spec.write_text(VALID)
    code, _, err = run(capsys, "--home", str(job_dir / "home"), "train", "--grace", grace,
                       str(spec))
    assert code == 2
    assert err == f"--grace: must be a number of seconds >= 0 (got {float(grace)})\n"


def test_a_bad_gpus_option_is_named_as_the_option(
    capsys: pytest.CaptureFixture[str], job_dir: Path
) -> None:
    spec = job_dir / "job.yaml"
    spec.write_text(VALID)
    code, _, err = run(capsys, "--home", str(job_dir / "home"), "train", "--gpus", "first",
                       str(spec))
    assert code == 2
    assert err == ("--gpus: must be 'all' or a comma-separated list of device indexes "
                   "(got 'first')\n")


def test_list_status_must_be_a_training_job_status(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--home", str(tmp_path), "list", "--status", "Bogus"])
    assert exc.value.code == 2
    assert "invalid choice: 'Bogus'" in capsys.readouterr().err


def test_validate_a_duplicate_key(capsys: pytest.CaptureFixture[str], job_dir: Path) -> None:
    spec = job_dir / "job.yaml"
    spec.write_text(VALID + "TrainingJobName: demo-2\n")
    code, out, err = run(capsys, "validate", "--no-image-check", str(spec))
    assert (code, out) == (2, "")
    assert err == ("TrainingJobName: is given twice in the same mapping (lines 1 and 19); "
                   "give it once\n")


def test_an_empty_name_is_refused_not_ignored(
    capsys: pytest.CaptureFixture[str], job_dir: Path
) -> None:
    path = job_dir / "job.yaml"
    path.write_text(VALID)
    code, _, err = run(capsys, "--home", str(job_dir / "home"), "train", str(path), "--name", "")
    assert code == 2 and err.startswith("TrainingJobName: "), err
    assert_no_traceback(err)


def test_trials_of_a_training_job_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store = Store(tmp_path)
    store.create_training_job(status.new_record({"TrainingJobName": "plain"}, "arn:x", 1.0), {}, {})
    code, _, err = run(capsys, "--home", str(tmp_path), "trials", "plain")
    assert ((code, err) == (2, "plain: is a training job; `smlocal trials` lists the training jobs "
                               "of a tuning job\n"))
    store.close()


def test_serve_refuses_a_port_it_cannot_have(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--home", str(tmp_path / "home"), "serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"--port: cannot listen on 127.0.0.1:{port}: ") and "Traceback" not in err
    assert "serving" not in err  # nothing announced that is not so
    assert main(["--home", str(tmp_path / "home"), "serve", "--port", "70000"]) == 2
    assert main(["--home", str(tmp_path / "home"), "serve", "--host", "no.such.host.invalid"]) == 2
    assert capsys.readouterr().err.count("\n") == 2
