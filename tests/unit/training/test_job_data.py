"""Tests for runner.training.job_data on this machine's folders (no Docker, no AWS): what each host
of a job gets of a file:// channel, with ShardedByS3Key and ShuffleConfig."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.core.specs import spec_from_dict
from runner.engines.local_workspace import LocalWorkspace
from runner.training.job_data import JobData
from runner.training.pipes import fifo_relpath
from runner.training.staging import ObjectCache
from tests.unit.training.test_pipes import read_fifo

HOSTS = ["algo-1", "algo-2"]
FILES = [f"part-{i:02d}" for i in range(12)]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    for name in FILES:
        (folder / ("sub" if name.endswith("1") else "") / name).write_text(name + "\n")
    return folder


def request(data: Path, mode: str, shuffle: int | None = None) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "ChannelName": "train",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"file://{data}",
                                        "S3DataDistributionType": "ShardedByS3Key"}},
    }
    if shuffle is not None:
        channel["ShuffleConfig"] = {"Seed": shuffle}
    return {
        "TrainingJobName": "j",
        "AlgorithmSpecification": {"TrainingImage": "x", "TrainingInputMode": mode},
        "ResourceConfig": {"InstanceType": "local", "InstanceCount": len(HOSTS),
                           "VolumeSizeInGB": 1},
        "OutputDataConfig": {"S3OutputPath": "file:///tmp/out"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        "InputDataConfig": [channel],
    }


def no_aws() -> Any:
    raise AssertionError("a file:// job makes no AWS client")


@pytest.fixture
def prepared(tmp_path: Path) -> Iterator[list[tuple[JobData, LocalWorkspace]]]:
    started: list[tuple[JobData, LocalWorkspace]] = []
    yield started
    for job_data, _ in started:
        job_data.stop(final_sync=False)


def prepare(
    tmp_path: Path, req: dict[str, Any], started: list[tuple[JobData, LocalWorkspace]]
) -> list[tuple[JobData, LocalWorkspace]]:
    spec = spec_from_dict(req, tmp_path)
    out = []
    for host in HOSTS:
        ws = LocalWorkspace(tmp_path / "ws" / host, None)  # type: ignore[arg-type]
        job_data = JobData(spec, no_aws, ObjectCache(tmp_path / "cache"), host, HOSTS)
        job_data.prepare(ws)
        started.append((job_data, ws))
        out.append((job_data, ws))
    return out


def test_sharded_file_channel_gives_each_host_its_own_files(
    tmp_path: Path, data: Path, prepared: list[Any]
) -> None:
    shares = []
    for _, ws in prepare(tmp_path, request(data, "File"), prepared):
        folder = ws.root / "input" / "data" / "train"
        shares.append({p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()})
        mounted = [m for m in ws.mounts() if m.target == "/opt/ml/input/data/train"]
        # File mode: copies the container may change (never hard links to the user's files)
        assert [m.source for m in mounted] == [str(folder)] and not mounted[0].read_only
        assert all(p.stat().st_ino != (data / p.relative_to(folder)).stat().st_ino
                   for p in folder.rglob("*") if p.is_file())
    assert shares[0].isdisjoint(shares[1])
    assert {name.rsplit("/", 1)[-1] for name in shares[0] | shares[1]} == set(FILES)
    assert "sub/part-01" in shares[0] | shares[1]  # paths below the channel kept
    assert (data / "part-00").read_text() == "part-00\n"  # the user's files untouched


def epoch_lines(ws: LocalWorkspace, epoch: int) -> list[str]:
    return read_fifo(ws.root / fifo_relpath("train", epoch)).decode().split()


def test_pipe_channel_shuffled_per_epoch_and_sharded(
    tmp_path: Path, data: Path, prepared: list[Any]
) -> None:
    hosts = prepare(tmp_path, request(data, "Pipe", shuffle=5), prepared)
    for job_data, _ in hosts:
        job_data.start()
    epochs: list[list[list[str]]] = []
    for epoch in range(2):
        shares: list[list[str]] = [[], []]
        readers = [
            threading.Thread(target=lambda out=out, ws=ws, e=epoch: out.extend(epoch_lines(ws, e)))
                   for out, (_, ws) in zip(shares, hosts, strict=True)]
        for t in readers:
            t.start()
        for t in readers:
            t.join(10)
        assert sorted(shares[0] + shares[1]) == FILES  # disjoint, and every file once
        epochs.append(shares)
    assert epochs[0][0] != sorted(epochs[0][0])  # not key order
    assert set(epochs[0][0]) != set(epochs[1][0])  # a host's share moves between epochs


def test_pipe_channel_without_shuffle_keeps_key_order(
    tmp_path: Path, data: Path, prepared: list[Any]
) -> None:
    (job_data, ws), _ = prepare(tmp_path, request(data, "Pipe"), prepared)
    job_data.start()
    first, second = epoch_lines(ws, 0), epoch_lines(ws, 1)
    assert first == second and len(first) == len(FILES) // 2


def test_a_host_with_an_empty_share_is_told_so(tmp_path: Path, prepared: list[Any]) -> None:
    data = tmp_path / "one"
    data.mkdir()
    (data / "only.csv").write_text("1\n")
    spec = spec_from_dict(request(data, "File"), tmp_path)
    told: list[str] = []
    shares = []
    for host in HOSTS:
        ws = LocalWorkspace(tmp_path / "ws" / host, None)  # type: ignore[arg-type]
        job_data = JobData(spec, no_aws, ObjectCache(tmp_path / "cache"), host, HOSTS,
                           warn=told.append)
        job_data.prepare(ws)
        prepared.append((job_data, ws))
        shares.append(sorted(p.name for p in (ws.local_folder("input/data") / "train").iterdir()))
    assert sorted(shares) == [[], ["only.csv"]]
    assert len(told) == 1 and "gets none of its data" in told[0]


def test_fast_file_shares_are_linked_read_only(tmp_path: Path, data: Path,
                                               prepared: list[Any]) -> None:
    for _, ws in prepare(tmp_path, request(data, "FastFile"), prepared):
        mounted = [m for m in ws.mounts() if m.target == "/opt/ml/input/data/train"]
        assert mounted and mounted[0].read_only
