"""A training job with the SageMaker Python SDK v3's ModelTrainer (`source_code`), run by
`smlocal serve`. The SDK v3 and the v2 this project tests with cannot share a virtual
environment: `make sdk-v3` makes one (.venv-sdk3) for this script.

    smlocal serve --with-moto       # prints the S3 endpoint it started
    .venv-sdk3/bin/python examples/sdk_model_trainer.py --s3-endpoint-url http://127.0.0.1:PORT

Only the endpoint variables point here. ModelTrainer checks the role's permissions with IAM's
SimulatePrincipalPolicy before it creates a job (neither smlocal nor moto serve IAM):
`SAGEMAKER_VALIDATE_ROLE=false` is the SDK's own switch for that check, set here.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", default="http://127.0.0.1:8899")
    parser.add_argument("--s3-endpoint-url", required=True)
    parser.add_argument("--bucket", default="smlocal-sdk-v3-example")
    args = parser.parse_args()
    for service in ("SAGEMAKER", "CLOUDWATCH_LOGS", "CLOUDWATCH"):
        os.environ[f"AWS_ENDPOINT_URL_{service}"] = args.endpoint_url
    for service in ("S3", "STS"):
        os.environ[f"AWS_ENDPOINT_URL_{service}"] = args.s3_endpoint_url
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("SAGEMAKER_VALIDATE_ROLE", "false")
    os.environ.setdefault("SAGEMAKER_USER_CONFIG_OVERRIDE", str(HERE / "sagemaker-config.yaml"))

    import boto3
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.core.training.configs import Compute, InputData, SourceCode
    from sagemaker.train import ModelTrainer

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=args.bucket)
    for path in sorted((HERE / "data" / "demo" / "train").iterdir()):
        s3.upload_file(str(path), args.bucket, f"demo/train/{path.name}")
    session = Session(boto_session=boto3.Session(), default_bucket=args.bucket)
    trainer = ModelTrainer(
        training_image="smlocal/python:3.11", role=ROLE, sagemaker_session=session,
        source_code=SourceCode(source_dir=str(HERE / "sdk_source"), entry_script="train.py"),
        compute=Compute(instance_type="ml.m5.large", instance_count=1), base_job_name="sdk-v3")
    trainer.train(input_data_config=[InputData(channel_name="train",
                                               data_source=f"s3://{args.bucket}/demo/train")],
                  wait=True, logs=False)
    sm = boto3.client("sagemaker")
    name = sm.list_training_jobs(SortBy="CreationTime", SortOrder="Descending",
                                 MaxResults=1)["TrainingJobSummaries"][0]["TrainingJobName"]
    job = sm.describe_training_job(TrainingJobName=name)
    print(name, job["TrainingJobStatus"], job.get("FailureReason", ""),
          {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])},
          job.get("ModelArtifacts", {}).get("S3ModelArtifacts"))
    return 0 if job["TrainingJobStatus"] == "Completed" else 1


if __name__ == "__main__":
    sys.exit(main())
