"""A job's AWS credentials in real containers: boto3 in the container finds them at its
endpoint (moto's STS and S3 behind), and nothing secret is in the container's environment or
in ``docker inspect`` while it runs."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from runner.aws.clients import AwsClients
from runner.contract.credentials import CREDENTIALS_FILE, FULL_URI_ENV, TOKEN_ENV
from runner.engines.docker.backend import DockerBackend
from runner.store.jobs import Store
from runner.training.credentials import FOLDER
from tests.integration.conftest import BUCKET, SECRET, TOOLKIT, report
from tests.integration.s3_jobs import created, put, request, run, s3_channel

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def test_boto3_in_the_container_gets_the_roles_credentials(
    tmp_path: Path, store: Store, backend: DockerBackend, aws: AwsClients, test_label: str
) -> None:
    put(aws, "cred/x.csv", "x")
    req = request("cred-role", {"aws_bucket": BUCKET},
                  [s3_channel("train", f"s3://{BUCKET}/cred/")], RoleArn=ROLE)
    req["AlgorithmSpecification"] = {"TrainingImage": TOOLKIT, "TrainingInputMode": "File"}
    job = run(req, store, backend, aws, test_label, tmp_path, assume_role=True)
    assert job.record["TrainingJobStatus"] == "Completed", job.record.get("FailureReason")
    seen = report(store, "cred-role", "TOOLKIT_REPORT ")["aws"]
    assert seen == {"method": "container-role", "error": None, "keys": ["cred/x.csv"],
                    "caller": "arn:aws:sts::123456789012:assumed-role/SageMakerRole/"
                              "smlocal-cred-role"}


def test_nothing_secret_in_docker_inspect_of_a_running_job(
    tmp_path: Path, store: Store, backend: DockerBackend, aws: AwsClients, test_label: str,
    docker_client: Any
) -> None:
    put(aws, "inspect/x.csv", "x")
    req = request("cred-inspect", {"mode": "sleep", "seconds": "6"},
                  [s3_channel("train", f"s3://{BUCKET}/inspect/")],
                  ResourceConfig={"InstanceType": "local", "InstanceCount": 2, "VolumeSizeInGB": 1})
    job = created(req, store, backend, aws, test_label, tmp_path)
    runner = threading.Thread(target=job.run)
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while len(backend.find({"smlocal.job": "cred-inspect"})) < 2:
            assert time.monotonic() < deadline and runner.is_alive()
            time.sleep(0.1)
        served = json.loads((store.home / "jobs" / "cred-inspect" / "algo-2" / FOLDER
                             / CREDENTIALS_FILE).read_text())
        scope = DockerBackend(store.home, docker_client).scope
        listed = docker_client.containers.list(
            all=True, filters={"label": f"smlocal.scope={scope}"})
        inspected = [docker_client.api.inspect_container(c.id) for c in listed]
        assert len(inspected) == 4  # each host's container and its endpoint's helper
        text = json.dumps(inspected)
        for secret in (SECRET, "AKIAIOSFODNN7EXAMPLE", served["SecretAccessKey"],
                       served["Token"], served["AccessKeyId"]):
            assert secret not in text
        for found in inspected:
            if "smlocal.job" in found["Config"]["Labels"]:
                env = dict(e.split("=", 1) for e in found["Config"]["Env"])
                assert env[FULL_URI_ENV].startswith("http://127.0.0.1:") and env[TOKEN_ENV]
                assert found["HostConfig"]["NetworkMode"].startswith("container:")
    finally:
        runner.join(timeout=120)
    assert job.record["TrainingJobStatus"] == "Completed", job.record.get("FailureReason")
    seen = report(store, "cred-inspect")
    assert seen["hostname"] in ("algo-1", "algo-2")
    assert set(seen["hosts_resolve"]) == {"algo-1", "algo-2"}
    assert all("ip" in v for v in seen["hosts_resolve"].values()), seen["hosts_resolve"]
    assert not list((store.home / "jobs" / "cred-inspect" / "algo-2" / FOLDER).glob("*.json"))
