"""Jobs whose smlocal process was killed: `smlocal stop` stops them itself, `train --resume`
carries on, and no second process runs a job that a live one runs."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from runner.engines.docker.backend import DockerBackend
from runner.store.jobs import Store
from tests.integration.conftest import probe_request
from tests.integration.test_cli import smlocal, start_smlocal, wait_for_log, write_spec
from tests.integration.test_tuning import probe_tuning_file, running_trials

pytestmark = pytest.mark.integration


def kill(runner: subprocess.Popen[str]) -> None:
    runner.send_signal(signal.SIGKILL)
    runner.communicate(timeout=30)


def test_stop_a_training_job_whose_runner_was_killed(
    tmp_path: Path, store: Store, backend: DockerBackend, data_dir: Path
) -> None:
    spec = write_spec(tmp_path,
                      probe_request(tmp_path, "orphan-stop", {"mode": "sleep", "seconds": "120"}),
                      StopGracePeriodSeconds=5)
    runner = start_smlocal(store.home, "train", str(spec))
    try:
        wait_for_log(store.home, "orphan-stop", "PROBE_SLEEPING")
        kill(runner)
    finally:
        runner.kill()
    # the container outlives its runner
    assert len(backend.find({"smlocal.job": "orphan-stop"})) == 1
    started = time.monotonic()
    result = smlocal(store.home, "stop", "orphan-stop")
    assert result.returncode == 0, result.stderr
    assert "stopping it from here" in result.stderr and "Stopped" in result.stderr
    assert time.monotonic() - started < 30  # SIGTERM reached the probe, no wait for the 120 s
    described = json.loads(smlocal(store.home, "describe", "orphan-stop").stdout)
    assert described["TrainingJobStatus"] == "Stopped"
    assert ([t["Status"] for t in described["SecondaryStatusTransitions"]][-2:]
            == ["Stopping", "Stopped"])
    assert backend.find({"smlocal.job": "orphan-stop"}) == []
    assert (tmp_path / "out" / "orphan-stop" / "output" / "model.tar.gz").exists()


def test_train_resume_carries_on_after_the_runner_was_killed(
    tmp_path: Path, store: Store, backend: DockerBackend, data_dir: Path
) -> None:
    spec = write_spec(tmp_path,
                      probe_request(tmp_path, "orphan-resume", {"mode": "sleep", "seconds": "4"}))
    runner = start_smlocal(store.home, "train", str(spec))
    try:
        wait_for_log(store.home, "orphan-resume", "PROBE_SLEEPING")
        refused = smlocal(store.home, "train", "--resume", "orphan-resume")
        assert (refused.returncode == 2
                and "being run by another smlocal process" in refused.stderr), refused.stderr
        kill(runner)
    finally:
        runner.kill()
    result = smlocal(store.home, "train", "--resume", "orphan-resume")
    assert result.returncode == 0, result.stderr
    described = json.loads(smlocal(store.home, "describe", "orphan-resume").stdout)
    assert described["TrainingJobStatus"] == "Completed"
    logs = smlocal(store.home, "logs", "orphan-resume").stdout
    assert logs.count("PROBE_REPORT") == 1  # ran once, reattached, not started again
    assert backend.find({"smlocal.job": "orphan-resume"}) == []


def test_stop_a_tuning_job_whose_runner_was_killed(tmp_path: Path, backend: DockerBackend) -> None:
    home = tmp_path / "home"
    spec = probe_tuning_file(tmp_path, "orphan-tune", "120", jobs=4, parallel=2)
    runner = start_smlocal(home, "tune", str(spec), "--plain", "--grace", "5")
    try:
        deadline = time.monotonic() + 60
        while running_trials(home, "orphan-tune") < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
        refused = smlocal(home, "tune", "--resume", "orphan-tune", "--plain")
        assert (refused.returncode == 2
                and "being run by another smlocal process" in refused.stderr), refused.stderr
        time.sleep(1)
        kill(runner)
    finally:
        runner.kill()
    result = smlocal(home, "stop", "orphan-tune")
    assert result.returncode == 0, result.stderr
    assert "stopping it from here" in result.stderr
    described = json.loads(smlocal(home, "describe", "orphan-tune").stdout)
    assert described["HyperParameterTuningJobStatus"] == "Stopped"
    assert described["TrainingJobStatusCounters"]["Stopped"] == 2
    assert [c for c in backend.client.containers.list(all=True) if "orphan-tune" in c.name] == []


def test_a_bug_of_ours_mid_job_never_leaves_the_record_in_progress(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from runner.core.specs import LocalOptions, Spec
    from runner.training.context import RunContext
    from runner.training.run import TrainingRun

    request = probe_request(tmp_path, "bug-mid-job", {"mode": "sleep", "seconds": "30"})
    spec = Spec(request=request, local=LocalOptions(stop_grace_seconds=1), base_dir=tmp_path)
    run = TrainingRun(spec, RunContext(store=store, backend=backend,
                                       extra_labels={"smlocal.test": test_label}))

    def broken(*args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(run, "_supervise", broken)  # the bug, once the container runs
    monkeypatch.setattr(run, "_upload", broken)  # and the artifacts cannot be written either
    run.create()
    with pytest.raises(RuntimeError, match="boom"):
        run.run()
    record = store.record("bug-mid-job")
    assert record["TrainingJobStatus"] == "Failed"
    assert record["FailureReason"] == "InternalServerError: smlocal failed: RuntimeError: boom"
    assert backend.find({"smlocal.job": "bug-mid-job"}) == []


def test_a_bug_of_ours_in_a_tuning_job_fails_it_and_stops_its_trials(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import yaml

    from runner.api.local_trials import local_tuner
    from runner.core.specs import LocalOptions, Spec
    from runner.store.tuning import TuningStore
    from runner.training.context import RunContext

    request = yaml.safe_load(
        probe_tuning_file(tmp_path, "bug-tune", "3", jobs=4, parallel=2).read_text())
    spec = Spec(request=request, local=LocalOptions(stop_grace_seconds=1), base_dir=tmp_path)
    tuner = local_tuner(spec, RunContext(store=store, backend=backend,
                                         extra_labels={"smlocal.test": test_label}))

    def broken(event: object) -> None:
        raise RuntimeError("boom")

    # the first trial's end hits the bug: its "done" is lost
    monkeypatch.setattr(tuner, "_handle", broken)
    tuner.create()
    with pytest.raises(RuntimeError, match="boom"):
        tuner.run()
    record = TuningStore(store).record("bug-tune")
    assert record["HyperParameterTuningJobStatus"] == "Failed"
    assert record["FailureReason"] == "InternalServerError: smlocal failed: RuntimeError: boom"
    trials = store.list_training_jobs("bug-tune")
    assert (len(trials) == 2 and all(t["TrainingJobStatus"] in ("Completed", "Stopped")
                                     for t in trials))
    assert backend.find({"smlocal.test": test_label}) == []
