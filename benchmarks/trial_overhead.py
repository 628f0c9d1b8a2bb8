"""Trial overhead: a no-op training job through `smlocal train` (in-process, and as a client
of a warm `smlocal serve`) against a bare `docker run --rm --network none` of the same image,
measured side by side in one run.

    .venv/bin/python benchmarks/trial_overhead.py [--runs 10]

Prints the median wall time of each way and their ratios. The floor is the container start
itself; smlocal adds the Python start, validation, the store, config files, log streaming,
artifact tarballs and the container's removal.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
IMAGE = "smlocal/noop:bench"


def build_image(work: Path, tag: str = IMAGE, train: str = "#!/bin/sh\nexit 0\n") -> None:
    """``tag``: smlocal's Python image with ``train`` as its entry point (a no-op unless
    told), built with `smlocal build`."""
    ctx = work / f"ctx-{tag.replace('/', '-').replace(':', '-')}"
    ctx.mkdir()
    (ctx / "train").write_text(train)
    (ctx / "train").chmod(0o755)
    (ctx / "Dockerfile").write_text("FROM smlocal/python:3.11\nCOPY train /usr/local/bin/train\n")
    subprocess.run(
        [sys.executable, "-m", "runner.interfaces.cli.main", "build", str(ctx), "-t", tag],
        check=True, capture_output=True)


def write_spec(work: Path, isolated: bool) -> Path:
    request = {
        "TrainingJobName": "bench",
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": f"file://{work}/out"},
        "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        "EnableNetworkIsolation": isolated,
    }
    path = work / f"bench-{isolated}.yaml"
    path.write_text(yaml.safe_dump(request))
    return path


def in_process(work: Path, home: Path) -> Callable[[], float]:
    """A job run as a tuning job runs its trials: inside one long-lived smlocal process."""
    from runner.core.specs import load_spec
    from runner.engines.docker.backend import DockerBackend
    from runner.store.jobs import Store
    from runner.training.context import RunContext
    from runner.training.run import TrainingRun

    store = Store(home)
    ctx = RunContext(store=store, backend=DockerBackend(store.home))
    template = load_spec(write_spec(work, True))

    def run() -> float:
        start = time.perf_counter()
        spec = replace(template, request={**template.request,
                                          "TrainingJobName": f"i-{uuid.uuid4().hex[:10]}"})
        trial = TrainingRun(spec, ctx)
        trial.create()
        record = trial.run()
        assert record["TrainingJobStatus"] == "Completed", record
        return time.perf_counter() - start

    return run


def start_server(work: Path, home: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``smlocal serve`` in ``work`` (the jobs' file:// paths lie inside it) on a free port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(home / "served"),
         "serve", "--port", str(port)], cwd=work, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("smlocal serve did not start") from None
            time.sleep(0.1)


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def user_env() -> dict[str, str]:
    """The environment as on a user's machine: Python caches bytecode (a machine that sets
    PYTHONDONTWRITEBYTECODE makes every run compile smlocal's modules again, ~15-25 ms)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        build_image(work)
        home = work / "home"
        smlocal = [sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(home), "train",
                   "--quiet"]
        server, url = start_server(work, home)
        client = [sys.executable, "-m", "runner.interfaces.cli.main", "--endpoint", url, "train",
                  "--quiet"]
        ways = {
            "docker run --rm --network none": lambda: timed(["docker", "run", "--rm", "--network",
                                                             "none", IMAGE, "train"]),
            "smlocal train (network isolation)": lambda: timed(
                [*smlocal, str(write_spec(work, True)), "--name", f"b-{uuid.uuid4().hex[:10]}"],
                user_env()),
            "smlocal train (bridge network)": lambda: timed(
                [*smlocal, str(write_spec(work, False)), "--name", f"b-{uuid.uuid4().hex[:10]}"],
                user_env()),
            "smlocal train via a warm smlocal serve": lambda: timed(
                [*client, str(write_spec(work, True)), "--name", f"s-{uuid.uuid4().hex[:10]}"],
                user_env()),
            "in-process trial (network isolation)": in_process(work, home),
            "python -c pass (interpreter start)": lambda: timed([sys.executable, "-c", "pass"]),
        }
        try:
            for way in ways.values():  # warm up: caches, first container start
                way()
            times: dict[str, list[float]] = {name: [] for name in ways}
            order = list(ways)
            shuffle = random.Random(0).shuffle
            for _ in range(args.runs):  # interleaved, so drift hits every way alike, and in a
                shuffle(order)  # new order each round: no way always follows the same one
                for name in order:  # (a bridge network's teardown slows the engine's next start)
                    times[name].append(ways[name]())
        finally:
            server.terminate()
            server.wait(60)
    medians = {name: statistics.median(values) for name, values in times.items()}
    base = medians["docker run --rm --network none"]
    print(f"trial overhead, median of {args.runs} runs each, interleaved")
    for name, value in medians.items():
        print(f"  {name:38s} {value * 1000:7.0f} ms   ratio {value / base:5.2f}")
    subprocess.run(["docker", "rmi", "-f", IMAGE], check=False, capture_output=True)


if __name__ == "__main__":
    main()
