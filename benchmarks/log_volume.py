"""A chatty training job: every line stored, the last one's metric final, at what cost.

One container program prints N lines of ~100 bytes (``step i loss=...``); it runs twice,
side by side in one run of this script:
  1. ``docker run`` then ``docker logs -t`` (the engine's own client reading the log back);
  2. ``smlocal train`` (CLI, its output to /dev/null), which stores and scrapes every line.
Printed: the container's own run time, each way's wall time and lines per second, the smlocal
job's wall time over the container's run time, the runner's peak RSS and the store's size.

    python benchmarks/log_volume.py [--lines 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

IMAGE = "smlocal/python:3.11"
# one line: the service's ContainerEntrypoint allows no line breaks
PROGRAM = ("import sys; w = sys.stdout.write; pad = 'x' * 70; "
           "[w(f'step {{i}} loss={{i / 7:.5f}} {{pad}}\\n') for i in range({count})]; "
           "sys.stdout.flush()")


def docker_time(stamp: str) -> float:
    head, _, frac = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float("0." + (frac or "0"))


def run_docker(count: int) -> tuple[float, float, int]:
    """(container run time, docker logs wall time, lines read)."""
    cid = subprocess.run(["docker", "run", "-d", "--network", "none", IMAGE, "python3", "-c",
                          PROGRAM.format(count=count)], capture_output=True, text=True,
                         check=True).stdout.strip()
    try:
        subprocess.run(["docker", "wait", cid], capture_output=True, check=True)
        state = json.loads(subprocess.run(["docker", "inspect", cid], capture_output=True,
                                          text=True, check=True).stdout)[0]["State"]
        ran = docker_time(state["FinishedAt"]) - docker_time(state["StartedAt"])
        started = time.perf_counter()
        logs = subprocess.run(["docker", "logs", "-t", cid], capture_output=True, check=True)
        return ran, time.perf_counter() - started, logs.stdout.count(b"\n")
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, check=False)


def peak_rss(pid: int) -> int:
    """The process's peak resident set size in bytes (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_smlocal(count: int, work: Path) -> tuple[float, dict[str, object], int, int]:
    """(wall time, the job's record, peak RSS in bytes of the runner, store size in bytes)."""
    name = f"log-volume-{count}"
    request = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": IMAGE, "TrainingInputMode": "File",
            "ContainerEntrypoint": ["python3", "-c", PROGRAM.format(count=count)],
            "MetricDefinitions": [{"Name": "loss", "Regex": r"^step \d+ loss=(\S+)"}],
        },
        "OutputDataConfig": {"S3OutputPath": f"file://{work}/out"},
        "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "EnableNetworkIsolation": True,
    }
    spec = work / "job.yaml"
    spec.write_text(yaml.safe_dump(request))
    home = work / "home"
    cli = [sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(home)]
    started = time.perf_counter()
    runner = subprocess.Popen([*cli, "train", str(spec)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    rss = 0
    while runner.poll() is None:  # the runner's own peak (VmHWM), read until it exits
        rss = max(rss, peak_rss(runner.pid))
        time.sleep(0.2)
    wall = time.perf_counter() - started
    if runner.returncode != 0:
        sys.exit(f"smlocal train failed: {runner.stderr.read()[-2000:] if runner.stderr else ''}")
    record = json.loads(
        subprocess.run([*cli, "describe", name], capture_output=True, text=True, check=True).stdout)
    stored = sum(f.stat().st_size for f in home.glob("smlocal.db*"))
    return wall, record, rss, stored


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    count = args.lines
    ran, logs_wall, logs_lines = run_docker(count)
    with tempfile.TemporaryDirectory() as tmp:
        wall, record, rss, stored = run_smlocal(count, Path(tmp))
        counted = subprocess.run([sys.executable, "-c", (
            "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); "
            "print(db.execute('SELECT COUNT(*) FROM logs WHERE job = ?', "
            "(sys.argv[2],)).fetchone()[0])"
        ), os.path.join(tmp, "home", "smlocal.db"), f"log-volume-{count}"],
                                 capture_output=True, text=True)
    final = {m["MetricName"]: m["Value"] for m in record.get("FinalMetricDataList", [])}  # type: ignore[attr-defined]
    print(f"{count:,} lines of ~100 bytes; the container ran {ran:.1f} s")
    print("| way | wall | lines/s | lines |")
    print("| --- | --- | --- | --- |")
    print(f"| `docker logs -t` of the ended container | {logs_wall:.1f} s | "
          f"{logs_lines / logs_wall:,.0f} | {logs_lines:,} |")
    print(f"| `smlocal train` (whole job) | {wall:.1f} s | {count / wall:,.0f} | "
          f"{counted.stdout.strip()} stored |")
    print(f"job wall / container run time: {wall / ran:.2f}; status {record['TrainingJobStatus']}; "
          f"final loss {final.get('loss')} (expected {(count - 1) / 7:.5f}); runner peak RSS "
          f"{rss / 2**20:.0f} MiB; store {stored / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
