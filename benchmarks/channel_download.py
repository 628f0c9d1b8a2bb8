"""Staging a 2,000-object channel from S3: smlocal against ``aws s3 sync``, same run, same server.

A moto server runs in a process of its own on loopback (so neither side shares its Python
with the server); the channel is 2,000 objects of 1-4 KiB. Each round stages the channel
into an empty folder both ways, interleaved: smlocal with an empty cache (list, download in
parallel, place), and ``aws s3 sync`` (the AWS CLI, its own start included: what a user
would run). smlocal with a warm cache (every ETag known) is shown too. The figure is the
ratio of the medians, smlocal cold / aws s3 sync; the goal is at most 1.0.

    .venv/bin/python benchmarks/channel_download.py [--objects 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BUCKET = "smlocal-bench"
PREFIX = "channel/train/"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "benchmark", "AWS_SECRET_ACCESS_KEY": "benchmark-secret",
                    "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).close()
            return server
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                raise SystemExit("the moto server did not start") from None
            time.sleep(0.1)


def seed(client: object, count: int) -> int:
    rng = random.Random(0)
    bodies = [(f"{PREFIX}part-{i:05d}/{rng.randrange(10**6):06d}.csv",
               os.urandom(rng.randrange(1024, 4097))) for i in range(count)]
    client.create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda kv: client.put_object(Bucket=BUCKET, Key=kv[0], Body=kv[1]), bodies))  # type: ignore[attr-defined]
    return sum(len(b) for _, b in bodies)


def stage_smlocal(endpoint: str, dest: Path, cache: Path) -> tuple[float, int]:
    from runner.aws.clients import AwsClients, AwsConfig
    from runner.contract.channels import ChannelSpec
    from runner.engines.local_workspace import LocalWorkspace
    from runner.training.staging import ObjectCache, plan_s3_channel, stage_s3_channel

    started = time.perf_counter()
    client = AwsClients(AwsConfig(endpoint_url=endpoint, max_attempts=3)).s3()
    channel = ChannelSpec("train", f"s3://{BUCKET}/{PREFIX}", "File", "S3Prefix", "FullyReplicated",
                          "None")
    workspace = LocalWorkspace(dest, None)  # type: ignore[arg-type]
    staged = stage_s3_channel(client, channel, plan_s3_channel(client, channel), workspace,
                              ObjectCache(cache))
    return time.perf_counter() - started, staged.objects


def stage_aws_cli(endpoint: str, dest: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["aws", "s3", "sync", f"s3://{BUCKET}/{PREFIX}", str(dest), "--endpoint-url", endpoint,
                    "--only-show-errors"], check=True, env=env)
    return time.perf_counter() - started


def cli_start_time() -> float:
    started = time.perf_counter()
    subprocess.run(["aws", "--version"], capture_output=True, check=True)
    return time.perf_counter() - started


def count_files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("aws") is None:
        raise SystemExit("the AWS CLI (aws) is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(FAKE_CREDENTIALS)
    os.environ.clear()
    os.environ.update(env)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = start_server(port)
    try:
        from runner.aws.clients import AwsClients, AwsConfig

        total = seed(AwsClients(AwsConfig(endpoint_url=endpoint)).s3(), args.objects)
        times: dict[str, list[float]] = {"smlocal, empty cache": [], "aws s3 sync": [],
                                         "smlocal, warm cache": []}
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            for r in range(args.rounds):
                order = ["smlocal", "aws"] if r % 2 == 0 else ["aws", "smlocal"]
                for way in order:
                    if way == "smlocal":
                        cold, n = stage_smlocal(endpoint, root / f"s{r}", root / f"cache{r}")
                        assert (n == args.objects
                                and count_files(root / f"s{r}/input/data/train") == args.objects)
                        times["smlocal, empty cache"].append(cold)
                        warm, _ = stage_smlocal(endpoint, root / f"w{r}", root / f"cache{r}")
                        times["smlocal, warm cache"].append(warm)
                    else:
                        times["aws s3 sync"].append(stage_aws_cli(endpoint, root / f"a{r}", env))
                        assert count_files(root / f"a{r}") == args.objects
        cli_start = statistics.median(cli_start_time() for _ in range(3))
    finally:
        server.terminate()
        server.wait(10)
    base = statistics.median(times["aws s3 sync"])
    print(f"{args.objects} objects, {total / 1e6:.1f} MB, moto server on loopback, median of "
          f"{args.rounds} interleaved rounds\n")
    print("| way | median | ratio to aws s3 sync |\n| --- | --- | --- |")
    for way, values in times.items():
        median = statistics.median(values)
        print(f"| {way} | {median:.2f} s | {median / base:.2f} |")
    print(f"\n(`aws --version` alone: {cli_start:.2f} s of the AWS CLI's time is its start)")
    print("ratio smlocal (empty cache) / aws s3 sync = "
          f"{statistics.median(times['smlocal, empty cache']) / base:.2f}")


if __name__ == "__main__":
    main()
