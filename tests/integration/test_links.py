"""Links left in a folder (by a user, or by an earlier job's container in its checkpoint
folder) never expose the host's files to a later job that uses the folder as a channel: in
File mode, Pipe mode and ShardedByS3Key over 2 hosts (the folder on another file system than
the store, so files are copied), the container reads the regular files and nothing else, and
nothing hangs. A job whose containers never started leaves no artifacts."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.engines.docker.backend import DockerBackend
from runner.store.jobs import Store
from tests.integration.conftest import probe_request, run_job
from tests.unit.planted import SECRET, plant

pytestmark = pytest.mark.integration

#: The container's side: everything under /opt/ml/input/data by kind, and every byte it can
#: read there (FIFOs to their end, regular files; a link is reported, never followed).
READER = r"""
import json, os, stat, sys, time
data, kinds, read = "/opt/ml/input/data", {}, []
if os.environ.get("PIPE"):
    path = os.path.join(data, "train_0")
    deadline = time.time() + 20
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.02)
    with open(path, "rb") as f:
        read.append(f.read().decode("latin-1"))
    kinds["train_0"] = "fifo"
else:
    for dirpath, dirnames, filenames in os.walk(data):
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            mode = os.lstat(full).st_mode
            rel = os.path.relpath(full, data)
            if stat.S_ISREG(mode):
                kinds[rel] = "file"
                with open(full, "rb") as f:
                    read.append(f.read().decode("latin-1"))
            else:
                link = "link" if stat.S_ISLNK(mode) else "other"
                kinds[rel] = "dir" if stat.S_ISDIR(mode) else link
print("LINKS_REPORT " + json.dumps({"kinds": kinds, "read": "".join(read)}), flush=True)
"""


@pytest.fixture
def other_fs(tmp_path: Path) -> Iterator[Path]:
    """A folder on another file system than the store (tmp_path/home) where there is one
    (/dev/shm), so the channel's files are copied, not hard-linked."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and os.stat(shm).st_dev != os.stat(tmp_path).st_dev:
        folder = Path(tempfile.mkdtemp(prefix="smlocal-links-", dir=shm))
    else:
        folder = tmp_path / "same-fs"
        folder.mkdir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def reader_request(
    tmp_path: Path, name: str, channel: Path, mode: str, hosts: int
) -> dict[str, Any]:
    request = probe_request(tmp_path, name)
    algo = request["AlgorithmSpecification"]
    algo["TrainingInputMode"] = mode
    algo["ContainerEntrypoint"] = ["python3", "-c", READER]
    request["Environment"] = {"PIPE": "1"} if mode == "Pipe" else {}
    source = request["InputDataConfig"][0]["DataSource"]["S3DataSource"]
    source["S3Uri"] = f"file://{channel}"
    if hosts > 1:
        source["S3DataDistributionType"] = "ShardedByS3Key"
        request["ResourceConfig"]["InstanceCount"] = hosts
    request["StoppingCondition"]["MaxRuntimeInSeconds"] = 60
    return request


def seen_by_hosts(store: Store, name: str) -> dict[str, dict[str, Any]]:
    return {
        e.host: json.loads(e.line[len("LINKS_REPORT ") :])
        for e in store.iter_logs(name)
        if e.line.startswith("LINKS_REPORT ")
    }


@pytest.mark.parametrize(
    ("mode", "hosts"),
    [("File", 1), ("Pipe", 1), ("File", 2), ("Pipe", 2)],
    ids=["file", "pipe", "file-sharded-2-hosts", "pipe-sharded-2-hosts"],
)
def test_planted_links_never_reach_the_container(
    tmp_path: Path,
    store: Store,
    backend: DockerBackend,
    test_label: str,
    other_fs: Path,
    mode: str,
    hosts: int,
) -> None:
    planted = plant(other_fs / "train", tmp_path / "host")
    name = f"links-{mode.lower()}-{hosts}"
    started = time.monotonic()
    run = run_job(
        reader_request(tmp_path, name, planted.folder, mode, hosts),
        store,
        backend,
        test_label,
        tmp_path,
    )
    assert time.monotonic() - started < 60
    assert run.record["TrainingJobStatus"] == "Completed", run.record.get("FailureReason")
    seen = seen_by_hosts(store, name)
    assert sorted(seen) == [f"algo-{i + 1}" for i in range(hosts)]
    everything = "".join(s["read"] for s in seen.values())
    assert SECRET not in everything and SECRET not in "".join(e.line for e in store.iter_logs(name))
    assert sorted(everything) == sorted(planted.data().decode())  # every regular byte, once
    for s in seen.values():
        assert set(s["kinds"].values()) <= {"file", "dir", "fifo"}, s["kinds"]
    if mode == "File" and hosts == 1:
        kinds = {
            "train": "dir",
            "train/a.csv": "file",
            "train/sub": "dir",
            "train/sub/b.csv": "file",
        }
        assert seen["algo-1"]["kinds"] == kinds


#: An earlier job's container plants links, a FIFO and a device in its checkpoint folder.
PLANTER = r"""
import os, stat, sys
ckpt, secret = "/opt/ml/checkpoints", sys.argv[1]
with open(os.path.join(ckpt, "real.csv"), "w") as f:
    f.write("real,data\n")
os.symlink(secret, os.path.join(ckpt, "shadow"))
os.symlink("../" * 20 + secret.lstrip("/"), os.path.join(ckpt, "climb"))
os.symlink(os.path.dirname(secret), os.path.join(ckpt, "dir"))
os.symlink("loop", os.path.join(ckpt, "loop"))
os.mkfifo(os.path.join(ckpt, "fifo"))
os.mknod(os.path.join(ckpt, "zero"), 0o666 | stat.S_IFCHR, os.makedev(1, 5))
"""


@pytest.mark.parametrize("mode", ["Pipe", "File"])
def test_an_earlier_jobs_checkpoint_links_as_a_later_jobs_channel(
    tmp_path: Path,
    store: Store,
    backend: DockerBackend,
    test_label: str,
    data_dir: Path,
    mode: str,
) -> None:
    secret = tmp_path / "host" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(SECRET + "\n")
    ckpt = tmp_path / "ckpt"
    first = probe_request(
        tmp_path, f"planter-{mode.lower()}", CheckpointConfig={"S3Uri": f"file://{ckpt}"}
    )
    first["AlgorithmSpecification"]["ContainerEntrypoint"] = ["python3", "-c", PLANTER, str(secret)]
    run = run_job(first, store, backend, test_label, tmp_path)
    assert run.record["TrainingJobStatus"] == "Completed", run.record.get("FailureReason")
    assert os.path.islink(ckpt / "shadow") and os.path.exists(ckpt / "zero")
    name = f"later-{mode.lower()}"
    run = run_job(
        reader_request(tmp_path, name, ckpt, mode, 1), store, backend, test_label, tmp_path
    )
    assert run.record["TrainingJobStatus"] == "Completed", run.record.get("FailureReason")
    (seen,) = seen_by_hosts(store, name).values()
    assert seen["read"] == "real,data\n"


@pytest.mark.parametrize("why", ["start", "data"])
def test_no_artifacts_for_a_job_whose_container_never_started(
    tmp_path: Path,
    store: Store,
    backend: DockerBackend,
    test_label: str,
    data_dir: Path,
    why: str,
) -> None:
    request = probe_request(tmp_path, f"never-{why}")
    if (
        why == "start"
    ):  # the container cannot start: a GPU instance on an engine with no NVIDIA runtime
        if "nvidia" in json.dumps(backend.client.info().get("Runtimes", {})):
            pytest.skip("this engine has an NVIDIA runtime")
        request["ResourceConfig"]["InstanceType"] = "ml.g4dn.xlarge"
    else:  # the data cannot be staged: the channel names a FIFO
        os.mkfifo(tmp_path / "fifo")
        request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = (
            f"file://{tmp_path}/fifo"
        )
    run = run_job(request, store, backend, test_label, tmp_path)
    assert run.record["TrainingJobStatus"] == "Failed"
    assert run.record["FailureReason"].startswith("ClientError: ")
    assert not (tmp_path / "out" / f"never-{why}").exists()
    assert not (run.record.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
