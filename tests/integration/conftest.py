"""Integration tests: real containers in the local Docker engine (`make test-images` builds
the images they use). Each test gets its own store and leaves no container behind."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from runner.aws.clients import AwsClients, AwsConfig
from runner.core.specs import LocalOptions, Spec
from runner.engines.docker.backend import DockerBackend, connect
from runner.store.jobs import Store
from runner.training.context import RunContext
from runner.training.run import TrainingRun

PROBE = "smlocal/probe:latest"
TOOLKIT = "smlocal/toolkit-probe:latest"
BUCKET = "smlocal-it"  # in moto, for the tests of jobs that use S3
SECRET = "S3cr3t/ValueThatMustNeverLeak+0123456789"  # the runner's secret key there


@pytest.fixture(scope="session")
def docker_client() -> Any:
    client = connect()
    for image in (PROBE, TOOLKIT):
        try:
            client.api.inspect_image(image)
        except Exception:
            pytest.fail(f"image {image} is missing: run `make test-images`")
    return client


@pytest.fixture(autouse=True)
def no_container_left(docker_client: Any, tmp_path: Path) -> Iterator[None]:
    """Whatever a test ran (in-process or through the CLI, both with the store at
    tmp_path/home), it leaves no container (nor network) behind. Only this test's containers are
    looked at: other runs on the same engine are none of its business."""
    scope = DockerBackend(tmp_path / "home", docker_client).scope
    yield
    left = docker_client.containers.list(all=True, filters={"label": f"smlocal.scope={scope}"})
    for container in left:
        container.remove(force=True)
    assert not left, f"containers left behind: {[c.name for c in left]}"
    networks = docker_client.networks.list(filters={"label": f"smlocal.scope={scope}"})
    for network in networks:
        network.remove()
    assert not networks, f"networks left behind: {[n.name for n in networks]}"


@pytest.fixture(scope="module")
def moto_url(docker_client: Any) -> Iterator[str]:
    gateway = DockerBackend(Path("."), docker_client).host_gateway()
    server = ThreadedMotoServer(ip_address=gateway, port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> AwsClients:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"),
                           timeout=10).close()
    clients = AwsClients(AwsConfig(endpoint_url=moto_url, max_attempts=1))
    clients.s3().create_bucket(Bucket=BUCKET)
    return clients


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "home")
    yield s
    s.close()


@pytest.fixture
def test_label() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture
def backend(store: Store, docker_client: Any, test_label: str) -> Iterator[DockerBackend]:
    b = DockerBackend(store.home, docker_client)
    yield b
    left = b.find({"smlocal.test": test_label})
    for cid in left:
        b.remove(cid)
    assert not left, f"containers left behind: {left}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    train = tmp_path / "data" / "train"
    (train / "sub").mkdir(parents=True)
    (train / "a.csv").write_text("1,2,3\n")
    (train / "sub" / "b.csv").write_text("4,5,6\n7,8,9\n")
    return tmp_path / "data"


def probe_request(
    tmp_path: Path, name: str, hyperparameters: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": PROBE, "TrainingInputMode": "File"},
        "HyperParameters": hyperparameters or {},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "ContentType": "text/csv",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"file://{tmp_path}/data/train",
                                                "S3DataDistributionType": "FullyReplicated"}},
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"file://{tmp_path}/out"},
        "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
    }
    request.update(extra)
    return request


def run_job(
    request: dict[str, Any], store: Store, backend: DockerBackend, test_label: str, tmp_path: Path,
    local: LocalOptions | None = None,
) -> TrainingRun:
    spec = Spec(request=request, local=local or LocalOptions(stop_grace_seconds=5),
                base_dir=tmp_path)
    run = TrainingRun(spec, RunContext(store=store, backend=backend,
                                       extra_labels={"smlocal.test": test_label}))
    run.create()
    run.run()
    return run


def report(store: Store, name: str, marker: str = "PROBE_REPORT ") -> dict[str, Any]:
    for entry in store.iter_logs(name):
        if entry.line.startswith(marker):
            return dict(json.loads(entry.line[len(marker):]))
    raise AssertionError(f"no {marker.strip()} line in the logs of {name}")
