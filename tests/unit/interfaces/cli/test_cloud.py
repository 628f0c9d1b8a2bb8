"""The cloud commands' errors on the command line: SageMaker out of reach is exit 1 with one
line, options that would move a resumed tuning job elsewhere are exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.store.jobs import Store
from runner.store.tuning import TuningStore
from tests.unit.interfaces.cli.test_errors import assert_no_traceback, run


@pytest.fixture(autouse=True)
def _signal_handlers(keep_signal_handlers: None) -> None:
    """Every test here calls main(), which installs signal handlers (see conftest)."""


def test_sagemaker_out_of_reach_is_one_line_and_exit_1(
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("AWS_ACCESS_KEY_ID", "AKIAFAKE"), ("AWS_SECRET_ACCESS_KEY", "fake"),
                        ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_MAX_ATTEMPTS", "1"),
                        ("AWS_ENDPOINT_URL_SAGEMAKER", "http://127.0.0.1:9")):
        monkeypatch.setenv(name, value)
    code, _, err = run(capsys, "--home", str(tmp_path / "home"), "import", "somewhere")
    assert code == 1, err
    assert err.startswith("smlocal: EndpointConnectionError") and "internal error" not in err
    assert_no_traceback(err)
    assert "fake" not in err


def test_a_resume_cannot_move_a_tuning_job(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = Store(home)
    request = {"HyperParameterTuningJobName": "here",
               "HyperParameterTuningJobConfig": {"Strategy": "Random"}}
    TuningStore(store).create({"HyperParameterTuningJobName": "here", "CreationTime": 0.0,
                               "HyperParameterTuningJobStatus": "InProgress"},
                              request, {"BaseDir": str(tmp_path)})
    store.close()
    for option in ("--trials-on", "--backend"):
        code, _, err = run(capsys, "--home", str(home), "tune", "--resume", "here", option,
                           "sagemaker")
        assert code == 2, err
        assert err == (f"{option}: tuning job here runs with {option} local: a resume carries "
                       "it on where it runs\n")
