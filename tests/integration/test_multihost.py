"""Jobs of several hosts (ResourceConfig.InstanceCount > 1): one container per host on a
network of the job's own."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import pytest

from runner.engines.docker.backend import DockerBackend
from runner.store.jobs import Store
from tests.integration.conftest import TOOLKIT, probe_request, run_job

pytestmark = pytest.mark.integration


def reports(store: Store, name: str, marker: str = "PROBE_REPORT ") -> dict[str, dict[str, Any]]:
    """Each host's report line, by host."""
    import json

    out: dict[str, dict[str, Any]] = {}
    for entry in store.iter_logs(name):
        if entry.line.startswith(marker):
            out[entry.host] = json.loads(entry.line[len(marker):])
    return out


def networks_left(backend: DockerBackend) -> list[str]:
    return [n["Name"]
            for n in backend.api.networks(filters={"label": f"smlocal.scope={backend.scope}"})]


def two_hosts(request: dict[str, Any]) -> dict[str, Any]:
    request["ResourceConfig"]["InstanceCount"] = 2
    return request


def test_two_hosts_know_themselves_and_each_other(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    request = two_hosts(probe_request(tmp_path, "multi-1", {"linger": "3"}))
    run = run_job(request, store, backend, test_label, tmp_path)
    assert run.record["TrainingJobStatus"] == "Completed", run.record.get("FailureReason")
    seen = reports(store, "multi-1")
    assert sorted(seen) == ["algo-1", "algo-2"]
    for host, report in seen.items():
        assert report["hostname"] == host
        assert report["resourceconfig"]["current_host"] == host
        assert report["resourceconfig"]["hosts"] == ["algo-1", "algo-2"]
        assert all("ip" in r for r in report["hosts_resolve"].values()), report["hosts_resolve"]
        # FullyReplicated: every host has everything
        assert report["channels"]["train"]["files"] == [["a.csv", 6], ["sub/b.csv", 12]]
    assert seen["algo-1"]["hosts_resolve"]["algo-2"] != seen["algo-1"]["hosts_resolve"]["algo-1"]
    # the artifacts are the first host's
    with tarfile.open(tmp_path / "out" / "multi-1" / "output" / "model.tar.gz") as tar:
        member = tar.extractfile("probe.json")
        assert member is not None and b'"current_host": "algo-1"' in member.read()
    assert networks_left(backend) == []


def test_sharded_file_channel_splits_between_hosts(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    request = two_hosts(probe_request(tmp_path, "multi-2", {"mode": "pipe", "channels": "train"}))
    request["AlgorithmSpecification"]["TrainingInputMode"] = "Pipe"
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataDistributionType"] = (
        "ShardedByS3Key")
    run = run_job(request, store, backend, test_label, tmp_path)
    assert run.record["TrainingJobStatus"] == "Completed", run.record.get("FailureReason")
    sizes = {e.host: e.line for e in store.iter_logs("multi-2") if e.line.startswith("PROBE_PIPE ")}
    assert "bytes=6 " in sizes["algo-1"] and "bytes=12 " in sizes["algo-2"], sizes


def test_sharded_file_mode_channel_gives_each_host_its_share(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    request = two_hosts(probe_request(tmp_path, "multi-2f", {"linger": "1"}))
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataDistributionType"] = (
        "ShardedByS3Key")
    run = run_job(request, store, backend, test_label, tmp_path)
    assert run.record["TrainingJobStatus"] == "Completed", run.record.get("FailureReason")
    seen = reports(store, "multi-2f")
    assert seen["algo-1"]["channels"]["train"]["files"] == [["a.csv", 6]]
    assert seen["algo-2"]["channels"]["train"]["files"] == [["sub/b.csv", 12]]


def test_one_host_failing_fails_the_job_and_stops_the_other(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    request = two_hosts(probe_request(tmp_path, "multi-3",
                                      {"mode": "fail-on-host", "host": "algo-2", "code": "3"}))
    run = run_job(request, store, backend, test_label, tmp_path)
    assert run.record["TrainingJobStatus"] == "Failed"
    reason = run.record["FailureReason"]
    assert reason.startswith(
        "AlgorithmError: the container of host algo-2 exited with code 3."), reason
    assert "PROBE_FAILING on algo-2" in reason
    lines = [(e.host, e.line) for e in store.iter_logs("multi-3")]
    assert ("algo-1", "PROBE_SIGTERM") in lines  # the other host was stopped
    assert run.record["ExitCode"] == 3
    assert networks_left(backend) == []


def test_failure_file_of_the_failed_host(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    request = two_hosts(probe_request(tmp_path, "multi-4",
                                      {"mode": "fail-file", "message": "bad data"}))
    run = run_job(request, store, backend, test_label, tmp_path)
    assert run.record["TrainingJobStatus"] == "Failed"
    assert run.record["FailureReason"] == "bad data"


def test_max_runtime_stops_every_host(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    request = two_hosts(probe_request(tmp_path, "multi-5", {"mode": "sleep"}))
    request["StoppingCondition"]["MaxRuntimeInSeconds"] = 3
    run = run_job(request, store, backend, test_label, tmp_path)
    assert run.record["TrainingJobStatus"] == "Stopped"
    assert run.record["SecondaryStatus"] == "MaxRuntimeExceeded"
    hosts = {e.host for e in store.iter_logs("multi-5") if e.line == "PROBE_SIGTERM"}
    assert hosts == {"algo-1", "algo-2"}


def test_network_isolation_keeps_the_hosts_together(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    request = two_hosts(probe_request(tmp_path, "multi-6",
                                      {"mode": "fetch", "url_env": "PROBE_URL", "linger": "3"},
                                      EnableNetworkIsolation=True,
                                      Environment={"PROBE_URL": "http://example.com"}))
    run = run_job(request, store, backend, test_label, tmp_path)
    assert run.record["TrainingJobStatus"] == "Completed", run.record.get("FailureReason")
    for host, report in reports(store, "multi-6").items():
        assert all("ip" in r
                   for r in report["hosts_resolve"].values()), (host, report["hosts_resolve"])
    fetched = [e.line for e in store.iter_logs("multi-6") if e.line.startswith("PROBE_FETCH")]
    assert len(fetched) == 2 and all("error=" in line for line in fetched), fetched  # no way out
    assert networks_left(backend) == []


def test_sagemaker_training_toolkit_with_two_hosts(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    request = two_hosts(probe_request(tmp_path, "multi-7", {"epochs": "1"}))
    request["AlgorithmSpecification"]["TrainingImage"] = TOOLKIT
    request["ResourceConfig"]["InstanceType"] = "ml.m5.large"
    run = run_job(request, store, backend, test_label, tmp_path)
    assert run.record["TrainingJobStatus"] == "Completed", run.record.get("FailureReason")
    seen = reports(store, "multi-7", "TOOLKIT_REPORT ")
    assert sorted(seen) == ["algo-1", "algo-2"]
    for host, report in seen.items():
        assert report["sm_env_parsed"]["SM_HOSTS"] == ["algo-1", "algo-2"]
        assert report["sm_env"]["SM_CURRENT_HOST"] == host


def test_resume_finds_every_hosts_container(
    tmp_path: Path, store: Store, backend: DockerBackend, data_dir: Path
) -> None:
    """smlocal killed while both hosts run: a resume reattaches to both and ends the job."""
    import signal
    import time

    from runner.core.specs import load_spec
    from runner.training.context import RunContext
    from runner.training.run import TrainingRun
    from tests.integration.test_cli import start_smlocal, write_spec

    request = two_hosts(probe_request(tmp_path, "multi-8", {"mode": "sleep", "seconds": "6"}))
    spec_path = write_spec(tmp_path, request)
    runner = start_smlocal(store.home, "train", str(spec_path))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if ({e.host for e in store.iter_logs("multi-8") if e.line == "PROBE_SLEEPING"}
                    == {"algo-1", "algo-2"}):
                break
            time.sleep(0.2)
        runner.send_signal(signal.SIGKILL)
        runner.communicate(timeout=30)
    finally:
        runner.kill()
    assert len(backend.find({"smlocal.job": "multi-8"})) == 2  # the hosts outlive the runner
    run = TrainingRun(load_spec(spec_path), RunContext(store=store, backend=backend))
    record = run.resume()
    assert record["TrainingJobStatus"] == "Completed", record.get("FailureReason")
    assert backend.find({"smlocal.job": "multi-8"}) == []
    assert networks_left(backend) == []


DIE_WHILE_STARTING = """
import os, signal, sys
from runner.interfaces.cli import main as cli
from runner.engines.docker.backend import DockerBackend

real_start = DockerBackend.start
started = []

def start(self, cspec):
    if len(started) == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)  # smlocal dies between two hosts' starts
    started.append(cspec.hostname)
    return real_start(self, cspec)

DockerBackend.start = start
sys.exit(cli.main(sys.argv[2:]))
"""


@pytest.mark.parametrize("hosts_started", [0, 1, 3])
def test_resume_after_dying_while_the_hosts_started(tmp_path: Path, store: Store,
                                                    backend: DockerBackend,
                                                    data_dir: Path, hosts_started: int) -> None:
    import json
    import subprocess
    import sys

    from tests.integration.test_cli import smlocal, write_spec

    name = f"multi-die-{hosts_started}"
    request = probe_request(tmp_path, name, {"mode": "sleep", "seconds": "3"})
    request["ResourceConfig"]["InstanceCount"] = 4
    spec = write_spec(tmp_path, request, StopGracePeriodSeconds=5)
    died = subprocess.run([sys.executable, "-c", DIE_WHILE_STARTING, str(hosts_started), "--home",
                           str(store.home), "train", str(spec)], capture_output=True, text=True,
                          timeout=120)
    assert died.returncode == -9, died.stderr
    assert len(backend.find({"smlocal.job": name})) == hosts_started
    result = smlocal(store.home, "train", "--resume", name)
    described = json.loads(smlocal(store.home, "describe", name).stdout)
    if hosts_started == 0:  # nothing ran yet: it starts afresh
        assert result.returncode == 0, result.stderr
        assert described["TrainingJobStatus"] == "Completed"
        assert sorted(reports(store, name)) == ["algo-1", "algo-2", "algo-3", "algo-4"]
    else:  # the hosts that started were stopped, their logs kept, the true reason recorded
        assert result.returncode == 1
        assert described["TrainingJobStatus"] == "Failed"
        missing = ", ".join(f"algo-{i}" for i in range(hosts_started + 1, 5))
        assert described["FailureReason"] == (
            f"InternalServerError: smlocal stopped while it started the job's containers: "
            f"host(s) {missing} never started, so the others were stopped"
        )
        assert sorted(reports(store, name)) == [f"algo-{i}" for i in range(1, hosts_started + 1)]
    assert backend.find({"smlocal.job": name}) == []
    assert networks_left(backend) == []
