"""A hyperparameter tuning job with the SageMaker Python SDK (v2), run by `smlocal serve`.

Start the server with an in-memory S3 beside it, then run this script:

    smlocal serve --with-moto       # prints the S3 endpoint it started
    python examples/sdk_tuning.py --s3-endpoint-url http://127.0.0.1:PORT

The script is the SDK code a user writes for the cloud: only the endpoint variables point
here (SageMaker, CloudWatch Logs and CloudWatch at the server; S3 and STS at the S3 given).
Drop them, give a real role and bucket, and the same code tunes on SageMaker. It uploads the
demo data, tunes the demo image (`make images` builds it) over three kinds of range, and
prints the best training job, the trials and the best trial's metric series.
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
    parser.add_argument("--endpoint-url", default="http://127.0.0.1:8899",
                        help="smlocal serve (default http://127.0.0.1:8899)")
    parser.add_argument("--s3-endpoint-url", required=True,
                        help="where S3 is: the moto server `smlocal serve --with-moto` started")
    parser.add_argument("--bucket", default="smlocal-sdk-example")
    args = parser.parse_args()
    for service in ("SAGEMAKER", "CLOUDWATCH_LOGS", "CLOUDWATCH"):
        os.environ[f"AWS_ENDPOINT_URL_{service}"] = args.endpoint_url
    for service in ("S3", "STS"):
        os.environ[f"AWS_ENDPOINT_URL_{service}"] = args.s3_endpoint_url
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")  # (moto takes any credentials)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    # the SDK reports every call to AWS's telemetry over the internet unless told not to
    os.environ.setdefault("SAGEMAKER_USER_CONFIG_OVERRIDE", str(HERE / "sagemaker-config.yaml"))

    import boto3
    import sagemaker
    from sagemaker.analytics import HyperparameterTuningJobAnalytics, TrainingJobAnalytics
    from sagemaker.estimator import Estimator
    from sagemaker.tuner import (
        CategoricalParameter,
        ContinuousParameter,
        HyperparameterTuner,
        IntegerParameter,
    )

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=args.bucket)
    for channel in ("train", "validation"):
        for path in sorted((HERE / "data" / "demo" / channel).iterdir()):
            s3.upload_file(str(path), args.bucket, f"demo/{channel}/{path.name}")
    session = sagemaker.Session(boto_session=boto3.Session(), default_bucket=args.bucket)

    estimator = Estimator(image_uri="smlocal/demo:latest", role=ROLE, instance_count=1,
                          instance_type="ml.m5.large", output_path=f"s3://{args.bucket}/tuning",
                          sagemaker_session=session, hyperparameters={"epochs": 10})
    tuner = HyperparameterTuner(
        estimator, objective_metric_name="validation:loss", objective_type="Minimize",
        metric_definitions=[{"Name": "validation:loss", "Regex": "validation_loss=(\\S+)"}],
        hyperparameter_ranges={
            "learning_rate": ContinuousParameter(0.001, 0.3, scaling_type="Logarithmic"),
            "mini_batch_size": IntegerParameter(8, 64),
            "l2": CategoricalParameter(["0.0", "0.001", "0.01"]),
        },
        max_jobs=6, max_parallel_jobs=2, strategy="Bayesian",
    )
    tuner.fit({"train": f"s3://{args.bucket}/demo/train",
               "validation": f"s3://{args.bucket}/demo/validation"})
    tuner.wait()
    best = tuner.best_training_job()
    print(f"best training job: {best}")
    trials = HyperparameterTuningJobAnalytics(tuner.latest_tuning_job.name,
                                              sagemaker_session=session).dataframe()
    print(trials.sort_values("FinalObjectiveValue").to_string(index=False))
    print(TrainingJobAnalytics(best, sagemaker_session=session).dataframe().to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
