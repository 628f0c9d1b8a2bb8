"""Faults of the machine under a job: the output folder's or the store's disk full, two
runners racing to resume one job, a 50 MB log line with no line end, an image removed while a
tuning job needs it."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.faults.test_engine import cli, describe, leftovers, wait_for_line, write_job

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """``folder`` as a tmpfs of ``size`` (a disk that fills), unmounted afterwards."""
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True, check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "out", "1m") as folder:
        yield folder


def test_a_full_output_disk_fails_the_job_and_leaves_no_partial_archive(
    tmp_path: Path, small_disk: Path
) -> None:
    job = write_job(tmp_path, "fault-disk")
    request = yaml.safe_load(job.read_text())
    request["AlgorithmSpecification"]["ContainerEntrypoint"] = [
        "sh", "-c", "head -c 3000000 /dev/urandom > /opt/ml/model/big.bin",  # 3 MB on a 1 MB disk
    ]
    job.write_text(yaml.safe_dump(request))
    home = tmp_path / "home"
    result = subprocess.run(cli(home, "train", str(job)), capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    record = describe(home, "fault-disk")
    assert record["TrainingJobStatus"] == "Failed"
    assert record["FailureReason"].startswith(
        "ClientError: could not write the model artifacts"), record
    assert "No space left on device" in record["FailureReason"]
    assert [p.name for p in small_disk.rglob("*.tmp")] == []
    assert leftovers("fault-disk") == []


def test_two_runners_racing_to_resume_one_job(tmp_path: Path) -> None:
    home = tmp_path / "home"
    job = write_job(tmp_path, "fault-race")
    request = yaml.safe_load(job.read_text())
    # long enough that the job still runs while the racers start (two interpreters' start-up on
    # a loaded 2-core machine took over 4 s: the first racer had finished it, the second found
    # it Completed and said so)
    request["HyperParameters"]["seconds"] = "15"
    job.write_text(yaml.safe_dump(request))
    first = subprocess.Popen(cli(home, "train", str(job)), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(home, "fault-race", "PROBE_SLEEPING")
        first.kill()  # SIGKILL: the container outlives its runner
        first.communicate(timeout=30)
    finally:
        first.kill()
    racers = [subprocess.Popen(cli(home, "train", "--resume", "fault-race"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = []
    for racer in racers:
        _, err = racer.communicate(timeout=120)
        outcomes.append((racer.returncode, err))
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0, 2], outcomes  # one carried it on, the other was refused
    refused = next(err for code, err in outcomes if code == 2)
    assert "being run by another smlocal process" in refused
    assert describe(home, "fault-race")["TrainingJobStatus"] == "Completed"
    logs = subprocess.run(cli(home, "logs", "fault-race"), capture_output=True, text=True,
                          check=True).stdout
    assert logs.count("PROBE_REPORT") == 1
    assert leftovers("fault-race") == []


def test_a_50_mb_line_without_a_line_end(tmp_path: Path) -> None:
    home = tmp_path / "home"
    job = write_job(tmp_path, "fault-longline")
    request = yaml.safe_load(job.read_text())
    request["AlgorithmSpecification"]["ContainerEntrypoint"] = [
        "python3", "-c", "import sys; sys.stdout.write('x' * 50_000_000 + ' loss=0.5')",
    ]
    request["AlgorithmSpecification"]["MetricDefinitions"] = [{"Name": "loss",
                                                               "Regex": r"loss=(\S+)"}]
    job.write_text(yaml.safe_dump(request))
    started = time.monotonic()
    result = subprocess.run(cli(home, "train", str(job), "--quiet"), capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 120
    record = describe(home, "fault-longline")
    assert record["FinalMetricDataList"][0]["Value"] == 0.5
    logs = subprocess.run(cli(home, "logs", "fault-longline"), capture_output=True, text=True,
                          check=True).stdout
    pieces = logs.splitlines()
    assert sum(len(p) for p in pieces) == 50_000_000 + len(" loss=0.5")
    assert max(len(p) for p in pieces) <= 256 * 1024  # stored in bounded pieces


def test_a_full_store_disk_keeps_the_job_and_its_result(tmp_path: Path) -> None:
    """The store's folder on a 24 MiB tmpfs, a job printing 24 MB of lines: the lines past
    the disk's room (less the room kept for the job's records) are shown and scraped, not
    stored; the job completes with its final metric and says what was not kept."""
    with tmpfs(tmp_path / "home", "24m") as home:
        job = write_job(tmp_path, "fault-store")
        request = yaml.safe_load(job.read_text())
        request["AlgorithmSpecification"]["ContainerEntrypoint"] = [
            "python3", "-c", "exec(\"for i in range(150000): print('line %06d ' % i + 'x' * 150)\")"
                             "; print('loss=0.5')"]
        request["AlgorithmSpecification"]["MetricDefinitions"] = [{"Name": "loss",
                                                                   "Regex": r"loss=(\S+)"}]
        job.write_text(yaml.safe_dump(request))
        result = subprocess.run(cli(home, "train", str(job), "--quiet"), capture_output=True,
                                text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
        assert f"the store's disk is nearly full ({home})" in result.stderr
        assert "log lines were scraped for metrics and shown, not stored" in result.stderr
        record = describe(home, "fault-store")
        assert record["TrainingJobStatus"] == "Completed", record
        assert record["FinalMetricDataList"][0]["Value"] == 0.5
        logs = subprocess.run(cli(home, "logs", "fault-store"), capture_output=True, text=True,
                              check=True).stdout.splitlines()
        assert 0 < len(logs) < 150000 and logs[0].startswith("line 000000 ")
        assert leftovers("fault-store") == []


def test_an_image_removed_mid_tuning_fails_the_trials_that_need_it(tmp_path: Path) -> None:
    """`docker rmi` of a tuning job's image after its first trial: the trials that start
    later fail with a ClientError naming the image (not retryable: the image will not come
    back by itself), the tuning job ends, nothing is left behind."""
    from tests.integration.test_tuning import probe_tuning_file

    image = f"smlocal/probe-copy:fault-{tmp_path.name[-8:].lower()}"
    subprocess.run(["docker", "tag", "smlocal/probe:latest", image], check=True)
    home = tmp_path / "home"
    spec = probe_tuning_file(tmp_path, "fault-image", "1", jobs=3, parallel=1)
    request = yaml.safe_load(spec.read_text())
    request["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"] = image
    spec.write_text(yaml.safe_dump(request))
    runner = subprocess.Popen(cli(home, "tune", str(spec), "--plain"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            listed = subprocess.run(cli(home, "trials", "fault-image", "--output", "json"),
                                    capture_output=True, text=True, check=False)
            if listed.returncode == 0 and any(
                    t["TrainingJobStatus"] == "Completed"
                    for t in json.loads(listed.stdout)["TrainingJobSummaries"]):
                break
            time.sleep(0.2)
        subprocess.run(["docker", "rmi", image], capture_output=True, check=True)
        _, err = runner.communicate(timeout=240)
    finally:
        runner.kill()
        subprocess.run(["docker", "rmi", image], capture_output=True, check=False)
    assert runner.returncode == 0, err
    assert "Traceback" not in err and "internal error" not in err, err
    trials = json.loads(subprocess.run(cli(home, "trials", "fault-image", "--output", "json"),
                                       capture_output=True, text=True,
                                       check=True).stdout)["TrainingJobSummaries"]
    failed = [t for t in trials if t["TrainingJobStatus"] == "Failed"]
    assert len(trials) == 3 and failed, trials
    assert all(t["FailureReason"] == f"ClientError: image {image!r} not found in the local "
               "Docker engine" for t in failed), failed
    record = describe(home, "fault-image")
    assert record["HyperParameterTuningJobStatus"] == "Completed"
    assert record["TrainingJobStatusCounters"]["NonRetryableError"] == len(failed)
    assert [c for t in trials for c in leftovers(t["TrainingJobName"])] == []
