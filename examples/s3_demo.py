"""``make train-s3``: the demo request with s3:// paths, end to end, against a moto server.

Starts a moto server (S3, CloudWatch Logs, CloudWatch metrics) on the Docker bridge's gateway
address, which this machine and bridged containers both reach; copies examples/data/demo
into s3://smlocal-demo/demo/; runs ``smlocal --endpoint-url URL train
examples/demo-training-job-s3.yaml`` unchanged; then shows what the job left in S3 and
CloudWatch, as SageMaker would leave it. The server's state goes away when this ends.

Credentials are moto's fake ones: the user's own never reach the server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUCKET = "smlocal-demo"
REQUEST = ROOT / "examples" / "demo-training-job-s3.yaml"
DATA = ROOT / "examples" / "data" / "demo"
FAKE = {"AWS_ACCESS_KEY_ID": "smlocal-demo", "AWS_SECRET_ACCESS_KEY": "smlocal-demo-secret",
        "AWS_DEFAULT_REGION": "us-east-1"}


def main() -> int:
    from moto.server import ThreadedMotoServer

    from runner.aws.clients import AwsClients, AwsConfig
    from runner.aws.cloudwatch import LOG_GROUP, NAMESPACE, job_streams, read_stream
    from runner.engines.docker.backend import DockerBackend

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(FAKE)
    os.environ.clear()
    os.environ.update(env)
    gateway = DockerBackend(Path(".")).host_gateway()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
    server = ThreadedMotoServer(ip_address=gateway, port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        aws = AwsClients(AwsConfig(endpoint_url=endpoint, max_attempts=1))
        s3 = aws.s3()
        s3.create_bucket(Bucket=BUCKET)
        for path in sorted(DATA.rglob("*")):
            if path.is_file():
                key = f"demo/{path.relative_to(DATA).as_posix()}"
                s3.upload_file(str(path), BUCKET, key)
        print(f"== moto server at {endpoint}; s3://{BUCKET}/demo/ seeded from "
              f"{DATA.relative_to(ROOT)}", flush=True)
        name = f"demo-linear-s3-{time.strftime('%Y%m%d-%H%M%S')}"
        smlocal = [sys.executable, "-m", "runner.interfaces.cli.main", "--endpoint-url", endpoint]
        code = subprocess.run([*smlocal, "train", str(REQUEST), "--name", name], env=env).returncode
        print(f"\n== s3://{BUCKET}/ after the job")
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for obj in page.get("Contents", []):
                print(f"  {obj['Size']:>8}  s3://{BUCKET}/{obj['Key']}")
        logs = aws.logs()
        for stream in job_streams(logs, name):
            events = list(read_stream(logs, stream))
            print(f"\n== CloudWatch Logs {LOG_GROUP} / {stream}: {len(events)} events, the last 3:")
            for _, message in events[-3:]:
                print(f"  {message}")
        cloudwatch = aws.cloudwatch()
        print(f"\n== CloudWatch metrics in {NAMESPACE}")
        now = datetime.now(UTC)
        listed = cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]
        for metric in sorted(listed, key=lambda m: m["MetricName"]):
            dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
            if name not in dims.get("TrainingJobName", "") + dims.get("Host", ""):
                continue
            points = cloudwatch.get_metric_statistics(
                Namespace=NAMESPACE, MetricName=metric["MetricName"],
                Dimensions=metric["Dimensions"],
                StartTime=now - timedelta(hours=1), EndTime=now + timedelta(minutes=5), Period=3600,
                Statistics=["SampleCount", "Minimum", "Maximum"],
            )["Datapoints"]
            count = int(sum(p["SampleCount"] for p in points))
            low = min((p["Minimum"] for p in points), default=float("nan"))
            high = max((p["Maximum"] for p in points), default=float("nan"))
            print(f"  {metric['MetricName']:<18} {dims}  {count} values, {low:g} .. {high:g}")
        print(f"\n== read back: smlocal --endpoint-url {endpoint} logs {name} --cloudwatch "
              "| tail -2")
        back = subprocess.run([*smlocal, "logs", name, "--cloudwatch"], env=env,
                              capture_output=True, text=True)
        for line in back.stdout.splitlines()[-2:]:
            print(f"  {line}")
        return code
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
