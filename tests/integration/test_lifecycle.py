"""How jobs end: success, failure file, exit codes, OOM, stop, max runtime; and metrics."""

from __future__ import annotations

import json
import tarfile
import threading
import time
from pathlib import Path

import pytest

from runner.core.specs import LocalOptions
from runner.engines.docker.backend import DockerBackend
from runner.store.jobs import Store
from tests.integration.conftest import probe_request, run_job

pytestmark = pytest.mark.integration


def statuses(record: dict[str, object]) -> list[str]:
    return [t["Status"] for t in record["SecondaryStatusTransitions"]]  # type: ignore[index,union-attr]


def test_completed_job_reports_as_aws_does(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    run = run_job(probe_request(tmp_path, "life-ok"), store, backend, test_label, tmp_path)
    record = store.record("life-ok")
    assert record["TrainingJobStatus"] == "Completed"
    assert record["SecondaryStatus"] == "Completed"
    assert statuses(record) == ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    for step in record["SecondaryStatusTransitions"]:
        assert step["EndTime"] >= step["StartTime"]
    assert record["CreationTime"] <= record["TrainingStartTime"] <= record["TrainingEndTime"]
    assert "FailureReason" not in record
    assert run.record == record


def test_failure_file_becomes_the_failure_reason(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    hp = {"mode": "fail-file", "message": "ClientError: column 3 is not numeric"}
    run = run_job(probe_request(tmp_path, "life-fail", hp), store, backend, test_label, tmp_path)
    record = run.record
    assert record["TrainingJobStatus"] == "Failed"
    assert record["SecondaryStatus"] == "Failed"
    assert record["FailureReason"] == "ClientError: column 3 is not numeric"
    assert statuses(record) == ["Starting", "Downloading", "Training", "Failed"]
    # artifacts are written on failure too
    assert (tmp_path / "out" / "life-fail" / "output" / "model.tar.gz").is_file()


def test_failure_reason_is_cut_at_1024_characters(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    hp = {"mode": "fail-file", "message": "0123456789", "message_repeat": "300"}
    run = run_job(probe_request(tmp_path, "life-long", hp), store, backend, test_label, tmp_path)
    assert run.record["FailureReason"] == ("0123456789" * 300)[:1024]


def test_exit_code_without_failure_file(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    hp = {"mode": "exit", "code": "3", "stderr": "Traceback: something broke"}
    run = run_job(probe_request(tmp_path, "life-exit", hp), store, backend, test_label, tmp_path)
    reason = run.record["FailureReason"]
    assert run.record["TrainingJobStatus"] == "Failed"
    assert reason.startswith("AlgorithmError: the container exited with code 3.")
    assert "Traceback: something broke" in reason


def test_out_of_memory_is_reported(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    request = probe_request(tmp_path, "life-oom", {"mode": "oom"})
    request["ResourceConfig"]["InstanceType"] = "ml.t3.medium"  # 4 GiB
    run = run_job(request, store, backend, test_label, tmp_path)
    assert run.record["TrainingJobStatus"] == "Failed"
    assert "out of memory" in run.record["FailureReason"]
    assert "exit code 137" in run.record["FailureReason"]


def _stop_when_running(store: Store, name: str, marker: str) -> threading.Thread:
    def stopper() -> None:
        other = Store(store.home)  # another connection, as `smlocal stop` in another process
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if any(marker in e.line for e in other.iter_logs(name)):
                    other.request_stop(name, time.time())
                    return
            except Exception:
                pass
            time.sleep(0.05)

    thread = threading.Thread(target=stopper, daemon=True)
    thread.start()
    return thread


def test_stop_sends_sigterm_and_the_job_ends_stopped(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    request = probe_request(tmp_path, "life-stop", {"mode": "sleep", "seconds": "60"},
                            CheckpointConfig={"S3Uri": f"file://{tmp_path}/ckpt"})
    stopper = _stop_when_running(store, "life-stop", "PROBE_SLEEPING")
    started = time.monotonic()
    run = run_job(request, store, backend, test_label, tmp_path,
                  LocalOptions(stop_grace_seconds=30))
    stopper.join()
    assert time.monotonic() - started < 20  # the handler ran: no wait for the grace period
    record = run.record
    assert record["TrainingJobStatus"] == "Stopped"
    assert record["SecondaryStatus"] == "Stopped"
    assert statuses(record) == ["Starting", "Downloading", "Training", "Stopping", "Stopped"]
    assert "FailureReason" not in record
    assert any("PROBE_SIGTERM" in e.line for e in store.iter_logs("life-stop"))
    assert (tmp_path / "ckpt" / "terminated.txt").is_file()  # checkpoint written on SIGTERM
    with tarfile.open(tmp_path / "out" / "life-stop" / "output" / "model.tar.gz") as tar:
        assert "terminated.txt" in tar.getnames()


def test_sigterm_ignored_means_sigkill_after_the_grace_period(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    request = probe_request(tmp_path, "life-ignore", {"mode": "ignore-term", "seconds": "120"})
    stopper = _stop_when_running(store, "life-ignore", "PROBE_IGNORING")
    started = time.monotonic()
    run = run_job(request, store, backend, test_label, tmp_path, LocalOptions(stop_grace_seconds=2))
    stopper.join()
    elapsed = time.monotonic() - started
    assert 2 <= elapsed < 30
    assert run.record["TrainingJobStatus"] == "Stopped"
    assert run.record["ExitCode"] == 137


def test_max_runtime_stops_the_job(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    request = probe_request(tmp_path, "life-timeout", {"mode": "sleep", "seconds": "120"},
                            StoppingCondition={"MaxRuntimeInSeconds": 2})
    started = time.monotonic()
    run = run_job(request, store, backend, test_label, tmp_path)
    assert time.monotonic() - started < 20
    record = run.record
    assert record["TrainingJobStatus"] == "Stopped"
    assert record["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert statuses(record)[-1] == "MaxRuntimeExceeded"
    assert (tmp_path / "out" / "life-timeout" / "output" / "model.tar.gz").is_file()


def test_metrics_from_stdout_and_stderr_with_awkward_values(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    lines = [
        "epoch=1 loss=0.5 acc=0.1",
        "stderr:epoch=2 loss=1e-3 acc=nan",
        "epoch=3 loss=-2.5E+04 acc=inf",
        "epoch=4 loss= acc=abc",
        "GAN_loss=0.138318; disc_train_loss=1.374587; Loss = 16.020744;",
        "epoch=5\tloss=0.25 acc=0.9",
    ]
    request = probe_request(tmp_path, "life-metrics",
                            {"mode": "metrics", "lines": json.dumps(lines), "interval": "0.02"})
    request["AlgorithmSpecification"]["MetricDefinitions"] = [
        # anchored: the probe's report line echoes these lines inside its JSON
        {"Name": "loss", "Regex": r"^epoch=\d+\s+loss=(\S*)"},
        {"Name": "acc", "Regex": r"^epoch.* acc=(\S+)"},
        {"Name": "gan", "Regex": "^GAN_loss=(.*?);"},
        {"Name": "total", "Regex": "^GAN.*Loss = (.*?);"},
        {"Name": "tabbed", "Regex": r"^epoch=(\d+)#011"},
    ]
    run = run_job(request, store, backend, test_label, tmp_path)
    series = store.metric_series("life-metrics")
    assert [v for _, v in series["loss"]] == [0.5, 1e-3, -2.5e4, 0.25]
    assert [v for _, v in series["acc"]] == [0.1, 0.9]
    assert [v for _, v in series["gan"]] == [0.138318]
    assert [v for _, v in series["total"]] == [16.020744]
    assert [v for _, v in series["tabbed"]] == [5.0]
    assert all(ts > 1_600_000_000 for points in series.values() for ts, _ in points)
    final = {m["MetricName"]: m["Value"] for m in run.record["FinalMetricDataList"]}
    assert final == {"loss": 0.25, "acc": 0.9, "gan": 0.138318, "total": 16.020744, "tabbed": 5.0}


def test_a_chatty_container_streams_every_line(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    request = probe_request(tmp_path, "life-chatty", {"mode": "chatty", "count": "100000"})
    request["AlgorithmSpecification"]["MetricDefinitions"] = [{"Name": "line",
                                                               "Regex": r"^line (\d+) "}]
    run = run_job(request, store, backend, test_label, tmp_path)
    assert run.record["TrainingJobStatus"] == "Completed"
    final = {m["MetricName"]: m["Value"] for m in run.record["FinalMetricDataList"]}
    assert final["line"] == 99999
    assert sum(1 for e in store.iter_logs("life-chatty") if e.line.startswith("line ")) == 100000


def test_gpu_instance_without_nvidia_runtime_fails_cleanly(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    if "nvidia" in json.dumps(backend.client.info().get("Runtimes", {})):
        pytest.skip("this engine has an NVIDIA runtime")
    request = probe_request(tmp_path, "life-gpu")
    request["ResourceConfig"]["InstanceType"] = "ml.g4dn.xlarge"
    run = run_job(request, store, backend, test_label, tmp_path)
    assert run.record["TrainingJobStatus"] == "Failed"
    assert "NVIDIA" in run.record["FailureReason"]
    assert backend.find({"smlocal.job": "life-gpu"}) == []


def test_a_failure_file_made_a_link_out_of_the_workspace_is_the_algorithms_error(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path,
) -> None:
    request = probe_request(tmp_path, "life-failure-link")
    request["AlgorithmSpecification"]["ContainerEntrypoint"] = [
        "sh", "-c", "ln -s /etc/passwd /opt/ml/output/failure && exit 3",
    ]
    run = run_job(request, store, backend, test_label, tmp_path)
    assert run.record["TrainingJobStatus"] == "Failed"
    assert run.record["FailureReason"] == (
        "AlgorithmError: the container made /opt/ml/output/failure (or a folder on its way) a "
        "symbolic link out of its workspace; smlocal does not follow it"
    )


def test_a_million_lines_are_all_stored_and_the_last_gives_the_final_metric(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path,
) -> None:
    """The engine goes on delivering a chatty container's log long after it exited: the job
    waits for every line (no time limit cuts it), so the final metric is the last line's."""
    count = 1_000_000
    request = probe_request(tmp_path, "life-million",
                            {"mode": "chatty", "count": str(count), "width": "60"})
    request["AlgorithmSpecification"]["MetricDefinitions"] = [{"Name": "line",
                                                               "Regex": r"^line (\d+) "}]
    run = run_job(request, store, backend, test_label, tmp_path)
    assert run.record["TrainingJobStatus"] == "Completed"
    assert ({m["MetricName"]: m["Value"] for m in run.record["FinalMetricDataList"]}
            == {"line": count - 1})
    (stored,) = store.query("SELECT COUNT(*) FROM logs WHERE job = ? AND line LIKE 'line %'",
                            ("life-million",))[0]
    assert stored == count


def test_a_log_past_its_cap_is_cut_with_a_note_and_its_metrics_all_scraped(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path,
) -> None:
    request = probe_request(tmp_path, "life-cap", {"mode": "chatty", "count": "1000"})
    request["AlgorithmSpecification"]["MetricDefinitions"] = [{"Name": "line",
                                                               "Regex": r"^line (\d+) "}]
    run = run_job(request, store, backend, test_label, tmp_path,
                  LocalOptions(stop_grace_seconds=5, max_log_lines=100))
    assert {m["MetricName"]: m["Value"] for m in run.record["FinalMetricDataList"]} == {"line": 999}
    lines = [entry.line for entry in store.iter_logs("life-cap")]
    assert len(lines) == 101
    assert (lines[-1].startswith("[smlocal: ")
            and "lines past Local.MaxLogLines were not stored]" in lines[-1])
