"""The demo training job, sent with boto3 to `smlocal serve` (start it first: `make serve`).

The same calls run a job on SageMaker itself once `endpoint_url` is dropped (and the request's
paths are s3:// ones). Usage: python examples/boto3_training.py [--endpoint-url URL]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import boto3
import yaml

HERE = Path(__file__).resolve().parent


def request() -> dict:
    """examples/demo-training-job.yaml as boto3 takes it: no `Local` section, file:// paths
    made absolute (the server reads them from its own folder), a new job name."""
    req = yaml.safe_load((HERE / "demo-training-job.yaml").read_text())
    req.pop("Local", None)
    for channel in req["InputDataConfig"]:
        source = channel["DataSource"]["S3DataSource"]
        source["S3Uri"] = "file://" + str((HERE / source["S3Uri"][len("file://"):]).resolve())
    output = req["OutputDataConfig"]["S3OutputPath"][len("file://"):]
    req["OutputDataConfig"]["S3OutputPath"] = "file://" + str((HERE / output).resolve())
    req["TrainingJobName"] = f"demo-boto3-{time.strftime('%Y%m%d-%H%M%S')}"
    return req


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", default="http://127.0.0.1:8899")
    args = parser.parse_args()
    sm = boto3.client("sagemaker", endpoint_url=args.endpoint_url, region_name="us-east-1",
                      aws_access_key_id="local", aws_secret_access_key="local")
    req = request()
    print(sm.create_training_job(**req)["TrainingJobArn"])
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=req["TrainingJobName"], WaiterConfig={"Delay": 2, "MaxAttempts": 300})
    job = sm.describe_training_job(TrainingJobName=req["TrainingJobName"])
    print(job["TrainingJobStatus"],
          {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])})
    print(job.get("ModelArtifacts", {}).get("S3ModelArtifacts"))
    return 0 if job["TrainingJobStatus"] == "Completed" else 1


if __name__ == "__main__":
    sys.exit(main())
