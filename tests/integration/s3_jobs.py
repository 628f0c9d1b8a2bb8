"""Jobs against a moto server that the containers reach too (the fixtures ``moto_url`` and
``aws`` are in conftest.py): the bucket, requests of the probe, and running one in-process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.aws.clients import AwsClients
from runner.core.specs import LocalOptions, Spec
from runner.engines.docker.backend import DockerBackend
from runner.store.jobs import Store
from runner.training.context import RunContext
from runner.training.run import TrainingRun
from tests.integration.conftest import BUCKET, PROBE


def put(aws: AwsClients, key: str, body: bytes | str) -> None:
    aws.s3().put_object(Bucket=BUCKET, Key=key,
                        Body=body.encode() if isinstance(body, str) else body)


def keys(aws: AwsClients, prefix: str = "") -> list[str]:
    pages = aws.s3().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def s3_channel(name: str, uri: str, **extra: Any) -> dict[str, Any]:
    s3 = {"S3DataType": extra.pop("S3DataType", "S3Prefix"), "S3Uri": uri,
          "S3DataDistributionType": extra.pop("S3DataDistributionType", "FullyReplicated")}
    return {"ChannelName": name, "DataSource": {"S3DataSource": s3}, **extra}


def request(
    name: str, hps: dict[str, str], channels: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": PROBE, "TrainingInputMode": "File",
                                   "MetricDefinitions": [{"Name": "train:loss",
                                                          "Regex": r"loss=(\S+)"}]},
        "HyperParameters": hps,
        "InputDataConfig": channels,
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/output/"},
        "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
    }
    out.update(extra)
    return out


def run(req: dict[str, Any], store: Store, backend: DockerBackend, aws: AwsClients | None,
        test_label: str, tmp_path: Path, cloudwatch: bool = False,
        assume_role: bool = False) -> TrainingRun:
    job = created(req, store, backend, aws, test_label, tmp_path, cloudwatch, assume_role)
    job.run()
    return job


def created(req: dict[str, Any], store: Store, backend: DockerBackend, aws: AwsClients | None,
            test_label: str, tmp_path: Path, cloudwatch: bool = False,
            assume_role: bool = False) -> TrainingRun:
    local = LocalOptions(stop_grace_seconds=5, cloudwatch=cloudwatch, assume_role=assume_role)
    job = TrainingRun(Spec(request=req, local=local, base_dir=tmp_path),
                      RunContext(store=store, backend=backend, aws=aws,
                                 extra_labels={"smlocal.test": test_label}))
    job.create()
    return job
