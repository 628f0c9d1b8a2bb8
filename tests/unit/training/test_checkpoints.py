"""Tests for runner.training.checkpoints against moto's in-process S3: seed, sync, deletions,
resume, and a container's symlinks never uploading the host's files."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from runner.aws.s3 import S3Url
from runner.contract.channels import ChannelError
from runner.core.safe_files import open_no_follow
from runner.training.checkpoints import CheckpointSync, snapshot
from tests.unit.planted import in_time, plant

BUCKET = "smlocal-ckpt"
URL = S3Url(BUCKET, "jobs/ckpt")


@pytest.fixture
def client(moto_s3: Any) -> Any:
    moto_s3.create_bucket(Bucket=BUCKET)
    return moto_s3


def keys(client: Any) -> dict[str, bytes]:
    found = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in found}


def test_seed_sync_and_deletions(client: Any, tmp_path: Path) -> None:
    client.put_object(Bucket=BUCKET, Key="jobs/ckpt/epoch-1.pt", Body=b"one")
    client.put_object(Bucket=BUCKET, Key="jobs/ckpt/sub/state.json", Body=b"{}")
    client.put_object(Bucket=BUCKET, Key="jobs/ckpt-other/x", Body=b"not ours")  # a sibling prefix
    folder = tmp_path / "ckpt"
    folder.mkdir()
    sync = CheckpointSync(client, URL, folder)
    assert sync.seed() == 2
    assert (folder / "epoch-1.pt").read_bytes() == b"one" and (folder / "sub/state.json").exists()
    sync.sync()
    assert sync.uploads == 0  # nothing changed since the seed
    (folder / "epoch-2.pt").write_bytes(b"two")
    (folder / "epoch-1.pt").unlink()
    (folder / "sub/state.json").write_bytes(b'{"epoch": 2}')
    sync.sync(final=True)
    assert keys(client) == {
        "jobs/ckpt/epoch-2.pt": b"two",
        "jobs/ckpt/sub/state.json": b'{"epoch": 2}',
        "jobs/ckpt-other/x": b"not ours",
    }
    assert (sync.uploads, sync.deletes) == (2, 1)


def test_periodic_sync_and_final_sync_on_stop(client: Any, tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    sync = CheckpointSync(client, URL, folder)
    sync.seed()
    sync.start(interval=0.05)
    (folder / "a").write_bytes(b"a")
    deadline = time.time() + 5
    while "jobs/ckpt/a" not in keys(client):
        assert time.time() < deadline
        time.sleep(0.05)
    (folder / "b").write_bytes(b"b")
    sync.stop()
    assert set(keys(client)) == {"jobs/ckpt/a", "jobs/ckpt/b"}


def test_symlinks_to_host_files_are_never_uploaded(client: Any, tmp_path: Path) -> None:
    secret = tmp_path / "host-secret"
    secret.write_text("aws_secret_access_key = hunter2")
    secret_dir = tmp_path / "host-dir"
    secret_dir.mkdir()
    (secret_dir / "credentials").write_text("secret")
    folder = tmp_path / "ckpt"
    folder.mkdir()
    os.symlink(secret, folder / "link-to-file")
    os.symlink(secret_dir, folder / "link-to-dir")
    (folder / "real.pt").write_bytes(b"ok")
    assert set(snapshot(folder)) == {"real.pt"}
    with pytest.raises(OSError):
        open_no_follow(folder, "link-to-dir/credentials")
    with pytest.raises(OSError):
        open_no_follow(folder, "link-to-file")
    sync = CheckpointSync(client, URL, folder)
    sync.sync(final=True)
    assert set(keys(client)) == {"jobs/ckpt/real.pt"}


def test_a_file_swapped_for_a_symlink_after_the_snapshot_is_skipped(
    client: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "x").write_bytes(b"x")
    sync = CheckpointSync(client, URL, folder)
    real_snapshot = snapshot(folder)
    (folder / "x").unlink()
    os.symlink(tmp_path, folder / "x")  # the race a container could try
    skipped = sync._upload(sorted(real_snapshot))
    assert skipped == ["x"] and keys(client) == {}


def test_a_file_swapped_for_a_fifo_or_link_after_the_snapshot_never_blocks(
    client: Any, tmp_path: Path,
) -> None:
    folder = tmp_path / "ckpt"
    planted = plant(folder, tmp_path / "host")
    sync = CheckpointSync(client, URL, folder)
    real_snapshot = snapshot(folder)
    assert set(real_snapshot) == set(planted.regular)
    for name in planted.regular:
        (folder / name).unlink()
    os.mkfifo(folder / "a.csv")  # the races a container could try
    os.symlink(tmp_path / "host" / "host-fifo", folder / "sub" / "b.csv")
    skipped = in_time(lambda: sync._upload(sorted(real_snapshot)))
    assert skipped == ["a.csv", "sub/b.csv"] and keys(client) == {}


def test_hostile_checkpoint_key_is_refused(client: Any, tmp_path: Path) -> None:
    client.put_object(Bucket=BUCKET, Key="jobs/ckpt/../../../escape", Body=b"x")
    folder = tmp_path / "ckpt"
    folder.mkdir()
    with pytest.raises(ChannelError,
                       match=r"CheckpointConfig.S3Uri s3://smlocal-ckpt/jobs/ckpt/: key .* '\.\.'"):
        CheckpointSync(client, URL, folder).seed()
    assert list(folder.iterdir()) == [] and not list(tmp_path.rglob("escape"))


def test_resumed_sync_adopts_the_remote_state(client: Any, tmp_path: Path) -> None:
    client.put_object(Bucket=BUCKET, Key="jobs/ckpt/old", Body=b"deleted while smlocal was away")
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "kept").write_bytes(b"k")
    sync = CheckpointSync(client, URL, folder)
    sync.adopt_remote()
    sync.sync(final=True)
    assert keys(client) == {"jobs/ckpt/kept": b"k"}


def test_resumed_host_of_several_keeps_the_other_hosts_objects(client: Any, tmp_path: Path) -> None:
    client.put_object(Bucket=BUCKET, Key="jobs/ckpt/algo-1.pt", Body=b"the first host's")
    client.put_object(Bucket=BUCKET, Key="jobs/ckpt/shared", Body=b"old")
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "shared").write_bytes(b"new")
    (folder / "algo-2.pt").write_bytes(b"mine")
    sync = CheckpointSync(client, URL, folder, shared=True)
    sync.adopt_remote()
    sync.sync(final=True)
    assert keys(client) == {"jobs/ckpt/algo-1.pt": b"the first host's", "jobs/ckpt/shared": b"new",
                            "jobs/ckpt/algo-2.pt": b"mine"}
    (folder / "algo-2.pt").unlink()  # what it uploaded itself it deletes again
    sync.sync(final=True)
    assert set(keys(client)) == {"jobs/ckpt/algo-1.pt", "jobs/ckpt/shared"}
