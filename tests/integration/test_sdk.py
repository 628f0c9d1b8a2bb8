"""The SageMaker Python SDK (v2, pinned as a test dependency), unchanged, against `smlocal
serve`: only AWS's per-service endpoint variables point elsewhere (SageMaker at the server,
S3 and STS at a moto server), as a user would set them. Real containers run the jobs."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import sagemaker  # a test dependency (pinned in pyproject.toml's test extra)
from moto.server import ThreadedMotoServer

from tests.integration.conftest import PROBE
from tests.integration.test_server import wait_for_server
from tests.unit.interfaces.server.conftest import free_port

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
BUCKET = "smlocal-sdk"
DEMO = "smlocal/demo:latest"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, moto_port = moto.get_host_and_port()
    port = free_port()
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    env = {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "sdk-secret",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": f"http://{host}:{moto_port}",
           "AWS_ENDPOINT_URL_STS": f"http://{host}:{moto_port}",
           "AWS_ENDPOINT_URL_SAGEMAKER": f"http://127.0.0.1:{port}",
           "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": f"http://127.0.0.1:{port}",
           "AWS_ENDPOINT_URL_CLOUDWATCH": f"http://127.0.0.1:{port}"}
    # the SDK would report each call to AWS's telemetry (over the internet): the examples'
    # opt-out
    env["SAGEMAKER_USER_CONFIG_OVERRIDE"] = str(EXAMPLES / "sagemaker-config.yaml")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    server = subprocess.Popen(
        [sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(tmp_path / "home"),
         "serve", "--port", str(port)], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_server(server, port)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        for channel in ("train", "validation"):
            for path in sorted((EXAMPLES / "data" / "demo" / channel).iterdir()):
                s3.upload_file(str(path), BUCKET, f"demo/{channel}/{path.name}")
        yield sagemaker.Session(boto_session=boto3.Session(), default_bucket=BUCKET)
    finally:
        server.terminate()
        _, err = server.communicate(timeout=60)
        moto.stop()
    assert "Traceback" not in err, err


def test_estimator_fit_runs_the_job_here_and_shows_its_log(session: Any, capsys: Any) -> None:
    from sagemaker.estimator import Estimator

    estimator = Estimator(image_uri=PROBE, role=ROLE, instance_count=1,
                          instance_type="ml.m5.large", output_path=f"s3://{BUCKET}/out",
                          sagemaker_session=session, hyperparameters={"mode": "ok"})
    estimator.fit({"train": f"s3://{BUCKET}/demo/train"}, wait=True, logs=True)
    shown = capsys.readouterr().out  # the SDK printed the job's log, read back from CloudWatch Logs
    assert "PROBE_REPORT" in shown
    described = estimator.latest_training_job.describe()
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    name = estimator.latest_training_job.name
    assert estimator.model_data == f"s3://{BUCKET}/out/{name}/output/model.tar.gz"
    head = boto3.client("s3").head_object(Bucket=BUCKET, Key=f"out/{name}/output/model.tar.gz")
    assert head["ContentLength"] > 0


def test_hyperparameter_tuner_with_every_kind_of_range(session: Any) -> None:
    from sagemaker.analytics import HyperparameterTuningJobAnalytics, TrainingJobAnalytics
    from sagemaker.estimator import Estimator
    from sagemaker.tuner import (
        CategoricalParameter,
        ContinuousParameter,
        HyperparameterTuner,
        IntegerParameter,
    )

    estimator = Estimator(image_uri=DEMO, role=ROLE, instance_count=1, instance_type="ml.m5.large",
                          output_path=f"s3://{BUCKET}/tuning", sagemaker_session=session,
                          hyperparameters={"epochs": 3})
    tuner = HyperparameterTuner(
        estimator, objective_metric_name="validation:loss", objective_type="Minimize",
        metric_definitions=[{"Name": "validation:loss", "Regex": "validation_loss=(\\S+)"}],
        hyperparameter_ranges={
            "learning_rate": ContinuousParameter(0.001, 0.2, scaling_type="Logarithmic"),
            "mini_batch_size": IntegerParameter(8, 64),
            "seed": CategoricalParameter(["0", "1"]),
        },
        max_jobs=4, max_parallel_jobs=2, strategy="Random",
    )
    tuner.fit({"train": f"s3://{BUCKET}/demo/train", "validation": f"s3://{BUCKET}/demo/validation"})
    tuner.wait()
    name = tuner.latest_tuning_job.name
    described = session.sagemaker_client.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"]["Completed"] == 4
    best = tuner.best_training_job()
    assert best == described["BestTrainingJob"]["TrainingJobName"]
    frame = HyperparameterTuningJobAnalytics(name, sagemaker_session=session).dataframe()
    assert len(frame) == 4
    assert {"learning_rate", "mini_batch_size", "seed", "FinalObjectiveValue"} <= set(frame.columns)
    assert frame["FinalObjectiveValue"].min() == pytest.approx(
        described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    # the best trial's metric series, read from CloudWatch (served here) as the SDK reads it
    series = TrainingJobAnalytics(best, sagemaker_session=session).dataframe()
    losses = series[series["metric_name"] == "validation:loss"]
    assert len(losses) >= 1 and losses["timestamp"].min() == 0.0  # (minutes since the first)
    assert losses["value"].notna().all()
    # the SDK's own parsers of our Describe answers: attach to the tuning job and its best trial
    attached = HyperparameterTuner.attach(name, sagemaker_session=session)
    assert attached.objective_metric_name == "validation:loss"
    assert attached.best_training_job() == best
    assert set(attached.hyperparameter_ranges()) >= {"ContinuousParameterRanges",
                                                     "IntegerParameterRanges"}
    trained = Estimator.attach(best, sagemaker_session=session)
    assert trained.model_data.endswith(f"{best}/output/model.tar.gz")
    assert trained.instance_type == "ml.m5.large"


@contextlib.contextmanager
def serving_with_moto(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """`smlocal serve --with-moto` as the README has a user start it: (its URL, moto's);
    its stderr is checked for tracebacks when it stops."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(tmp_path / "home"),
         "serve", "--port", str(port), "--with-moto"], cwd=tmp_path, stderr=subprocess.PIPE,
        text=True, env=env)
    try:
        wait_for_server(server, port)
        assert server.stderr is not None
        announced = ""
        while "moto server at" not in announced:
            announced += server.stderr.readline()
        yield f"http://127.0.0.1:{port}", announced.split("moto server at ")[1].split(",")[0]
    finally:
        server.terminate()
        _, err = server.communicate(timeout=60)
    assert "Traceback" not in err, err


def no_aws_of_this_machine(tmp_path: Path) -> dict[str, str]:
    """The environment less this machine's AWS settings (as on a machine with none)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_EC2_METADATA_DISABLED": "true",
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                "AWS_CONFIG_FILE": str(tmp_path / "none")})
    return env


def test_the_sdk_tuning_example_runs_against_serve_with_moto(tmp_path: Path) -> None:
    """`smlocal serve --with-moto` and examples/sdk_tuning.py, as the README tells a user."""
    env = no_aws_of_this_machine(tmp_path)
    with serving_with_moto(tmp_path, env) as (url, s3_url):
        done = subprocess.run(
            [sys.executable, "examples/sdk_tuning.py", "--endpoint-url", url,
             "--s3-endpoint-url", s3_url],
            cwd=EXAMPLES.parent, capture_output=True, text=True, timeout=600, check=False,
            env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "best training job: " in done.stdout
    assert "FinalObjectiveValue" in done.stdout and "validation:loss" in done.stdout

SDK3 = Path(__file__).resolve().parents[2] / ".venv-sdk3" / "bin" / "python"


def test_the_sdk_v3_model_trainer_example_runs_against_serve_with_moto(tmp_path: Path) -> None:
    """The SDK v3's ModelTrainer with `source_code` (its driver runs `chmod +x` on scripts in
    its File channels) through `smlocal serve --with-moto`; `make sdk-v3` (a prerequisite of
    `make test`) makes its virtualenv."""
    if not SDK3.exists():
        pytest.skip("no .venv-sdk3: `make sdk-v3` makes it (`make test` does)")
    env = no_aws_of_this_machine(tmp_path)
    with serving_with_moto(tmp_path, env) as (url, s3_url):
        done = subprocess.run(
            [str(SDK3), "examples/sdk_model_trainer.py", "--endpoint-url", url,
             "--s3-endpoint-url", s3_url],
            cwd=EXAMPLES.parent, capture_output=True, text=True, timeout=600, check=False,
            env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert " Completed " in done.stdout and "/output/model.tar.gz" in done.stdout
