"""The SageMaker Python SDK's own local mode against `smlocal serve`, measured side by side
in one run: the same Estimator (same image, same S3 input at a moto server), a no-op job and
a 20 s job, wall time of `fit()`.

    .venv/bin/python benchmarks/sdk_local_mode.py [--runs 3]

Local mode runs its jobs with docker-compose (`make bench-sdk` installs Debian's package
first). Ways:
- local mode: `Estimator(instance_type="local")`, fit() runs docker-compose and returns when
  the container ends;
- smlocal serve, `fit()` as it is: the SDK sleeps 5 s between its DescribeTrainingJob polls
  (`sagemaker.session._wait_until`), so it sees a job's end up to 5 s late;
- smlocal serve, `fit(wait=False)` then `Session.wait_for_job(name, poll=0.5)`: the SDK's own
  wait, polling more often.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trial_overhead import REPO, build_image, start_server  # (this folder's)

IMAGE = "smlocal/sleep:bench"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
BUCKET = "smlocal-bench"
TRAIN = """#!/bin/sh
exec python -c 'import json, time
hps = json.load(open("/opt/ml/input/config/hyperparameters.json"))
time.sleep(float(str(hps.get("seconds", "0")).strip(chr(34))))'
"""


def has_compose() -> bool:
    if shutil.which("docker-compose"):
        return True
    return subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0


def environment(moto: str) -> None:
    """This process's AWS settings (and so the server's it starts), as a user would set them:
    S3 and STS at moto, the SDK's telemetry off (the examples' opt-out file)."""
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": moto,
        "AWS_ENDPOINT_URL_STS": moto, "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(REPO / "examples" / "sagemaker-config.yaml")})
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)


def point_at(server: str) -> None:
    """SageMaker, CloudWatch Logs and CloudWatch at the server."""
    for service in ("SAGEMAKER", "CLOUDWATCH_LOGS", "CLOUDWATCH"):
        os.environ[f"AWS_ENDPOINT_URL_{service}"] = server


def fit_way(session: Any, instance_type: str, poll: float | None) -> Callable[[str], float]:
    """A way to run one job of ``seconds``: fit()'s wall time."""
    from sagemaker.estimator import Estimator

    def fit(seconds: str) -> float:
        estimator = Estimator(image_uri=IMAGE, role=ROLE, instance_count=1,
                              instance_type=instance_type, output_path=f"s3://{BUCKET}/out",
                              sagemaker_session=session, hyperparameters={"seconds": seconds},
                              base_job_name=f"b{uuid.uuid4().hex[:6]}")
        start = time.perf_counter()
        if poll is None:
            estimator.fit({"train": f"s3://{BUCKET}/data/train"}, wait=True, logs=False)
        else:
            estimator.fit({"train": f"s3://{BUCKET}/data/train"}, wait=False)
            session.wait_for_job(estimator.latest_training_job.name, poll=poll)
        elapsed = time.perf_counter() - start
        status = estimator.latest_training_job.describe()["TrainingJobStatus"]
        if status != "Completed":
            raise SystemExit(f"a {instance_type} job ended {status}")
        return elapsed

    return fit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not has_compose():
        raise SystemExit("the SDK's local mode needs docker-compose: `make bench-sdk` installs "
                         "it (apt-get install docker-compose)")
    import boto3
    import sagemaker
    from moto.server import ThreadedMotoServer
    from sagemaker.local import LocalSession

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        build_image(work, IMAGE, TRAIN)
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto.start()
        host, moto_port = moto.get_host_and_port()
        environment(f"http://{host}:{moto_port}")
        server, url = start_server(work, work / "home")
        try:
            point_at(url)
            s3 = boto3.client("s3")
            s3.create_bucket(Bucket=BUCKET)
            s3.put_object(Bucket=BUCKET, Key="data/train/rows.csv", Body=b"1,2\n3,4\n")
            served = sagemaker.Session(boto_session=boto3.Session(), default_bucket=BUCKET)
            local = LocalSession(boto_session=boto3.Session(), default_bucket=BUCKET)
            ways = {
                "SDK local mode (docker-compose)": fit_way(local, "local", None),
                "smlocal serve, fit() as it is": fit_way(served, "ml.m5.large", None),
                "smlocal serve, wait_for_job(poll=0.5)": fit_way(served, "ml.m5.large", 0.5),
            }
            times = run_ways(ways, args.runs)
        finally:
            server.terminate()
            server.wait(60)
            moto.stop()
            subprocess.run(["docker", "rmi", "-f", IMAGE], check=False, capture_output=True)
    report(times, args.runs)


def run_ways(ways: dict[str, Callable[[str], float]],
             runs: int) -> dict[tuple[str, str], list[float]]:
    jobs = {"no-op": "0", "20 s": "20"}
    for way in ways.values():  # warm up: images, caches, the compose network
        way("0")
    times: dict[tuple[str, str], list[float]] = {(j, w): [] for j in jobs for w in ways}
    order = list(times)
    shuffle = random.Random(0).shuffle
    for _ in range(runs):  # interleaved, in a new order each round
        shuffle(order)
        for job, way in order:
            times[job, way].append(ways[way](jobs[job]))
    return times


def report(times: dict[tuple[str, str], list[float]], runs: int) -> None:
    print(f"SageMaker SDK fit(), median of {runs} runs each, interleaved")
    for job in dict.fromkeys(j for j, _ in times):
        base = statistics.median(times[job, "SDK local mode (docker-compose)"])
        print(f"  {job} job")
        for (j, way), values in times.items():
            if j == job:
                value = statistics.median(values)
                print(f"    {way:40s} {value:6.2f} s   ratio to local mode {value / base:5.2f}")


if __name__ == "__main__":
    main()
