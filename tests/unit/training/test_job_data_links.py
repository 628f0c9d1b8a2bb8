"""Tests for runner.training.job_data with a ``file://`` channel folder full of planted links
(absolute, climbing out, to folders, loops, FIFOs, devices), in every channel mode and distribution:
only the regular files reach the container, nothing is followed, nothing blocks. And artifacts:
none for a job whose containers never started, never written through a planted link."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.contract.channels import ChannelError
from runner.core import safe_files
from runner.core.specs import spec_from_dict
from runner.engines.base import Mount
from runner.engines.local_workspace import LocalWorkspace
from runner.training.job_data import JobData
from runner.training.pipes import fifo_relpath
from runner.training.staging import ObjectCache
from tests.unit.planted import SECRET, Planted, in_time, plant, tree
from tests.unit.training.test_pipes import read_fifo


@pytest.fixture
def planted(tmp_path: Path) -> Planted:
    return plant(tmp_path / "ckpt-of-an-earlier-job", tmp_path / "host")


def request(uri: str, mode: str, hosts: int = 1, sharded: bool = False) -> dict[str, Any]:
    distribution = "ShardedByS3Key" if sharded else "FullyReplicated"
    return {
        "TrainingJobName": "j",
        "AlgorithmSpecification": {"TrainingImage": "x", "TrainingInputMode": mode},
        "ResourceConfig": {"InstanceType": "local", "InstanceCount": hosts, "VolumeSizeInGB": 1},
        "OutputDataConfig": {"S3OutputPath": "file://out"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": uri,
                        "S3DataDistributionType": distribution,
                    }
                },
            }
        ],
    }


class Job:
    def __init__(self, tmp_path: Path, req: dict[str, Any]) -> None:
        self.warnings: list[str] = []
        self.errors: list[str] = []
        hosts = [f"algo-{i + 1}" for i in range(req["ResourceConfig"]["InstanceCount"])]
        spec = spec_from_dict(req, tmp_path)
        self.hosts = [
            (
                JobData(
                    spec,
                    no_aws,
                    ObjectCache(tmp_path / "cache"),
                    host,
                    hosts,
                    on_error=self.errors.append,
                    warn=self.warnings.append,
                ),
                LocalWorkspace(tmp_path / "ws" / host, None),
            )  # type: ignore[arg-type]
            for host in hosts
        ]

    def prepare(self) -> Job:
        for data, ws in self.hosts:
            in_time(lambda data=data, ws=ws: data.prepare(ws))
        return self

    def stop(self) -> None:
        for data, _ in self.hosts:
            data.stop(final_sync=False)


def no_aws() -> Any:
    raise AssertionError("a file:// job makes no AWS client")


@pytest.fixture
def jobs() -> Iterator[list[Job]]:
    made: list[Job] = []
    yield made
    for job in made:
        job.stop()


def channel_mount(ws: LocalWorkspace) -> Mount:
    (mount,) = [m for m in ws.mounts() if m.target == "/opt/ml/input/data/train"]
    return mount


def read_all(folder: Path) -> bytes:
    return b"".join(
        (folder / rel).read_bytes() for rel, kind in sorted(tree(folder).items()) if kind == "file"
    )


def test_file_channel_with_links_is_staged_with_its_regular_files_only(
    tmp_path: Path,
    planted: Planted,
    jobs: list[Job],
) -> None:
    job = Job(tmp_path, request(f"file://{planted.folder}", "File"))
    jobs.append(job.prepare())
    ((_, ws),) = job.hosts
    staged = ws.root / "input" / "data" / "train"
    mount = channel_mount(ws)
    # not the user's folder itself; File mode's copies the container may change
    assert mount.source == str(staged) and not mount.read_only
    assert tree(staged) == {"a.csv": "file", "sub": "dir", "sub/b.csv": "file"}
    assert read_all(staged) == planted.data() and SECRET.encode() not in read_all(staged)
    (warning,) = job.warnings
    assert "channel 'train'" in warning and "'abs-link' (a symbolic link)" in warning
    assert "'fifo' (a FIFO)" in warning and "more" in warning


def test_fast_file_channel_without_links_is_bound_as_it_is(tmp_path: Path,
                                                           jobs: list[Job]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("1\n")
    job = Job(tmp_path, request(f"file://{data}", "FastFile"))
    jobs.append(job.prepare())
    ((_, ws),) = job.hosts
    mount = channel_mount(ws)
    assert mount.source == str(data) and mount.read_only and job.warnings == []


def test_file_channel_is_a_copy_the_container_may_change(tmp_path: Path,
                                                         jobs: list[Job]) -> None:
    """As on a SageMaker instance's volume (the SDK's ModelTrainer runs `chmod +x` on its
    scripts there): what the container changes is the copy, never the user's file."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "run.sh").write_text("echo hi\n")
    job = Job(tmp_path, request(f"file://{data}", "File"))
    jobs.append(job.prepare())
    ((_, ws),) = job.hosts
    mount = channel_mount(ws)
    assert mount.source == str(ws.root / "input" / "data" / "train") and not mount.read_only
    copy = Path(mount.source) / "run.sh"
    copy.chmod(0o755)
    copy.write_text("changed\n")
    assert (data / "run.sh").read_text() == "echo hi\n"
    assert (data / "run.sh").stat().st_mode & 0o111 == 0


@pytest.mark.parametrize("copy", [False, True], ids=["hard-links", "copies across file systems"])
def test_sharded_file_channel_shares_out_regular_files_only(
    tmp_path: Path,
    planted: Planted,
    jobs: list[Job],
    monkeypatch: pytest.MonkeyPatch,
    copy: bool,
) -> None:
    if copy:

        def no_link(*args: object, **kwargs: object) -> None:
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(safe_files.os, "link", no_link)
    job = Job(tmp_path, request(f"file://{planted.folder}", "File", hosts=2, sharded=True))
    jobs.append(job.prepare())
    shares = []
    for _, ws in job.hosts:
        staged = ws.root / "input" / "data" / "train"
        found = tree(staged)
        assert set(found.values()) <= {"file", "dir"}, found
        assert SECRET.encode() not in read_all(staged)
        shares.append({rel for rel, kind in found.items() if kind == "file"})
    assert shares == [{"a.csv"}, {"sub/b.csv"}]
    assert len(job.warnings) == 1  # told once, not by every host


def feed(job: Job, epochs: int = 1) -> list[bytes]:
    """What each host's container reads from its FIFOs over ``epochs`` epochs."""
    for data, _ in job.hosts:
        data.start()
    out = []
    for _, ws in job.hosts:
        for epoch in range(epochs):
            out.append(
                in_time(lambda ws=ws, e=epoch: read_fifo(ws.root / fifo_relpath("train", e)))
            )
    return out


def test_pipe_channel_streams_regular_files_only(
    tmp_path: Path, planted: Planted, jobs: list[Job]
) -> None:
    job = Job(tmp_path, request(f"file://{planted.folder}", "Pipe"))
    jobs.append(job.prepare())
    assert feed(job, epochs=2) == [planted.data(), planted.data()]
    assert job.errors == [] and len(job.warnings) == 1


def test_sharded_pipe_channel_streams_regular_files_only(
    tmp_path: Path, planted: Planted, jobs: list[Job]
) -> None:
    job = Job(tmp_path, request(f"file://{planted.folder}", "Pipe", hosts=2, sharded=True))
    jobs.append(job.prepare())
    assert feed(job) == [planted.regular["a.csv"], planted.regular["sub/b.csv"]]


def test_pipe_file_swapped_for_a_link_fails_the_job_naming_channel_and_file(
    tmp_path: Path,
    planted: Planted,
    jobs: list[Job],
) -> None:
    job = Job(tmp_path, request(f"file://{planted.folder}", "Pipe"))
    jobs.append(job.prepare())
    (planted.folder / "a.csv").unlink()
    os.symlink(planted.secret, planted.folder / "a.csv")  # after the scan: the race
    assert feed(job) == [b""]
    (error,) = job.errors
    assert "channel 'train'" in error and "'a.csv' is a symbolic link" in error


@pytest.mark.parametrize("mode", ["File", "Pipe"])
def test_named_fifo_or_missing_path_is_a_channel_error(
    tmp_path: Path, planted: Planted, mode: str
) -> None:
    for path, why in (
        (planted.folder / "fifo", "a FIFO"),
        (planted.folder / "gone", "does not exist"),
    ):
        job = Job(tmp_path, request(f"file://{path}", mode))
        with pytest.raises(ChannelError, match=why):
            job.prepare()


# -- artifacts ----------------------------------------------------------------------------------


def test_no_artifacts_for_a_job_whose_containers_never_started(
    tmp_path: Path, planted: Planted
) -> None:
    job = Job(tmp_path, request(f"file://{planted.folder}", "File")).prepare()
    ((data, ws),) = job.hosts
    assert data.upload(ws) is None
    assert not (tmp_path / "out").exists()


def test_artifacts_once_started_also_for_a_resumed_job(tmp_path: Path, planted: Planted) -> None:
    job = Job(tmp_path, request(f"file://{planted.folder}", "File")).prepare()
    ((data, ws),) = job.hosts
    data.start()
    (ws.root / "model" / "m.bin").write_bytes(b"m")
    out = tmp_path / "out" / "j" / "output"
    assert data.upload(ws) == f"file://{out}/model.tar.gz"
    assert sorted(p.name for p in out.iterdir()) == ["model.tar.gz", "output.tar.gz"]
    for p in out.iterdir():
        p.unlink()
    again = Job(tmp_path, request(f"file://{planted.folder}", "File"))  # smlocal ran again
    ((data2, _),) = again.hosts
    assert data2.upload(ws) == f"file://{out}/model.tar.gz"  # the containers had started


def test_artifacts_never_written_through_a_planted_link(tmp_path: Path, planted: Planted) -> None:
    job = Job(tmp_path, request(f"file://{planted.folder}", "File")).prepare()
    ((data, ws),) = job.hosts
    data.start()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    os.symlink(elsewhere, tmp_path / "out" / "j")  # left by a container that wrote out/
    with pytest.raises(OSError, match="links are never followed"):
        data.upload(ws)
    assert list(elsewhere.iterdir()) == []


def test_feeding_stops_when_asked_with_no_reader(tmp_path: Path, planted: Planted) -> None:
    job = Job(tmp_path, request(f"file://{planted.folder}", "Pipe")).prepare()
    for data, _ in job.hosts:
        data.start()
    done = threading.Event()
    in_time(lambda: (job.stop(), done.set()))
    assert done.is_set()
