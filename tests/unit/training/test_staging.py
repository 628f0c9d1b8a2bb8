"""Tests for runner.aws.s3 and runner.training.staging against moto's in-process S3: listings,
parallel transfers, the ETag cache, every channel option, and hostile keys writing nothing."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from runner.aws import s3
from runner.aws.clients import AwsError
from runner.contract.channels import ChannelError, ChannelSpec
from runner.training.staging import ObjectCache, plan_s3_channel, stage_s3_channel

BUCKET = "smlocal-unit"


@pytest.fixture
def client(moto_s3: Any) -> Any:
    moto_s3.create_bucket(Bucket=BUCKET)
    return moto_s3


class FakeWorkspace:
    """Records what would be placed; copies files so the test can read them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.placed: dict[str, list[str]] = {}

    def add_channel_files(self, channel: str, files: Sequence[tuple[str, Path]],
                          root: Path | None = None, writable: bool = False) -> None:
        self.placed[channel] = [rel for rel, _ in files]
        for rel, source in files:
            dest = self.root / channel / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(source.read_bytes())


def put(client: Any, key: str, body: bytes | str) -> None:
    client.put_object(Bucket=BUCKET, Key=key, Body=body.encode() if isinstance(body, str) else body)


def channel(uri: str, **kw: Any) -> ChannelSpec:
    base = {"name": "train", "uri": uri, "mode": "File", "data_type": "S3Prefix",
            "distribution": "FullyReplicated", "compression": "None"}
    return ChannelSpec(**{**base, **kw})


def test_list_objects_pages_and_skips_folder_markers(client: Any) -> None:
    for i in range(1205):
        put(client, f"many/{i:05d}", "x")
    put(client, "many/folder/", "")
    found = list(s3.list_objects(client, s3.S3Url(BUCKET, "many/")))
    assert len(found) == 1205 and all(o.size == 1 and o.etag for o in found)


def test_list_of_a_missing_bucket_is_a_clear_error(client: Any) -> None:
    with pytest.raises(AwsError, match="cannot list s3://nope-bucket/x: NoSuchBucket"):
        list(s3.list_objects(client, s3.S3Url("nope-bucket", "x")))


def test_transfer_up_and_down_with_multipart(client: Any, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * s3.MB))  # over the multipart threshold
    small = tmp_path / "small.txt"
    small.write_text("small")
    s3.transfer(client, uploads=[s3.Upload(big, BUCKET, "up/big.bin"),
                                 s3.Upload(small, BUCKET, "up/small.txt")])
    etag = client.head_object(Bucket=BUCKET, Key="up/big.bin")["ETag"]
    assert etag.strip('"').endswith("-2")  # two parts
    downloads = [s3.Download(BUCKET, "up/big.bin", 9 * s3.MB, tmp_path / "d" / "big.bin"),
                 s3.Download(BUCKET, "up/small.txt", 5, tmp_path / "d" / "small.txt")]
    s3.transfer(client, downloads=downloads)
    assert (tmp_path / "d" / "big.bin").read_bytes() == big.read_bytes()
    assert (tmp_path / "d" / "small.txt").read_text() == "small"


def test_transfer_failure_names_the_object(client: Any, tmp_path: Path) -> None:
    with pytest.raises(AwsError, match=f"cannot download s3://{BUCKET}/missing"):
        s3.transfer(client, downloads=[s3.Download(BUCKET, "missing", 3, tmp_path / "m")])
    assert not (tmp_path / "m").exists()


def test_s3prefix_file_channel_and_the_etag_cache(client: Any, tmp_path: Path) -> None:
    for i in range(20):
        put(client, f"data/train/part-{i:02d}.csv", f"{i},1\n")
    put(client, "data/train/sub/deep.csv", "deep")
    cache = ObjectCache(tmp_path / "cache")
    ws = FakeWorkspace(tmp_path / "ws")
    ch = channel(f"s3://{BUCKET}/data/train")
    first = stage_s3_channel(client, ch, plan_s3_channel(client, ch), ws, cache)
    assert (first.objects, first.downloaded) == (21, 21)
    assert (tmp_path / "ws/train/sub/deep.csv").read_text() == "deep"
    assert sorted(ws.placed["train"])[:2] == ["part-00.csv", "part-01.csv"]
    # Unchanged objects come from the cache; a changed one (new ETag) is fetched again.
    again = stage_s3_channel(client, ch, plan_s3_channel(client, ch), ws, cache)
    assert again.downloaded == 0
    put(client, "data/train/part-03.csv", "changed")
    third = stage_s3_channel(client, ch, plan_s3_channel(client, ch), ws, cache)
    assert third.downloaded == 1
    assert (tmp_path / "ws/train/part-03.csv").read_text() == "changed"


def test_manifest_channel(client: Any, tmp_path: Path) -> None:
    put(client, "root/a/1.csv", "one")
    put(client, "root/b.csv", "bee")
    put(client, "root/not-listed.csv", "no")
    put(client, "manifests/train.json",
        json.dumps([{"prefix": f"s3://{BUCKET}/root/"}, "a/1.csv", "b.csv"]))
    ch = channel(f"s3://{BUCKET}/manifests/train.json", data_type="ManifestFile")
    planned = plan_s3_channel(client, ch)
    assert sorted(p.relpath for p in planned) == ["a/1.csv", "b.csv"]
    assert all(p.size == 3 and p.etag for p in planned)
    ws = FakeWorkspace(tmp_path / "ws")
    stage_s3_channel(client, ch, planned, ws, ObjectCache(tmp_path / "cache"))
    assert (tmp_path / "ws/train/a/1.csv").read_text() == "one"
    assert not (tmp_path / "ws/train/not-listed.csv").exists()


def test_manifest_entry_that_does_not_exist(client: Any) -> None:
    put(client, "m.json", json.dumps([{"prefix": f"s3://{BUCKET}/root/"}, "gone.csv"]))
    with pytest.raises(AwsError, match="gone.csv"):
        plan_s3_channel(client, channel(f"s3://{BUCKET}/m.json", data_type="ManifestFile"))


def test_sharded_by_s3_key(client: Any) -> None:
    for i in range(9):
        put(client, f"shards/{i}", str(i))
    ch = channel(f"s3://{BUCKET}/shards/", distribution="ShardedByS3Key")
    shares = [{p.key for p in plan_s3_channel(client, ch, i, 3)} for i in range(3)]
    assert all(len(s) == 3 for s in shares)
    assert set.union(*shares) == {f"shards/{i}" for i in range(9)}
    assert not (shares[0] & shares[1]) and not (shares[1] & shares[2])
    # FullyReplicated: every host everything
    full = channel(f"s3://{BUCKET}/shards/")
    assert len(plan_s3_channel(client, full, 2, 3)) == 9


def test_gzip_objects_are_staged_as_they_are_in_file_mode(client: Any, tmp_path: Path) -> None:
    put(client, "gz/a.csv.gz", gzip.compress(b"1,2\n"))
    ch = channel(f"s3://{BUCKET}/gz/", compression="Gzip", mode="FastFile")
    ws = FakeWorkspace(tmp_path / "ws")
    stage_s3_channel(client, ch, plan_s3_channel(client, ch), ws, ObjectCache(tmp_path / "c"))
    assert gzip.decompress((tmp_path / "ws/train/a.csv.gz").read_bytes()) == b"1,2\n"


def test_a_host_whose_share_is_empty_gets_no_data_not_an_error(client: Any) -> None:
    put(client, "one/only", "1")
    ch = channel(f"s3://{BUCKET}/one/", distribution="ShardedByS3Key")
    shares = [[p.key for p in plan_s3_channel(client, ch, i, 2)] for i in range(2)]
    assert sorted(shares) == [[], ["one/only"]]  # as on SageMaker: some nodes get no data


def test_empty_channel_is_an_error(client: Any) -> None:
    with pytest.raises(ChannelError, match="no S3 objects found under"):
        plan_s3_channel(client, channel(f"s3://{BUCKET}/nothing/here"))


def test_hostile_key_refuses_the_channel_and_writes_nothing(client: Any, tmp_path: Path) -> None:
    put(client, "evil/ok.csv", "ok")
    put(client, "evil/../../outside.txt", "pwned")
    ch = channel(f"s3://{BUCKET}/evil/")
    with pytest.raises(ChannelError, match="'..' path component"):
        plan_s3_channel(client, ch)
    assert not (tmp_path / "cache").exists() and not list(tmp_path.rglob("*outside*"))


def test_cache_paths_never_come_from_keys(tmp_path: Path) -> None:
    from runner.contract.channels import PlannedObject

    cache = ObjectCache(tmp_path)
    path = cache.path(PlannedObject("x", BUCKET, "../../../etc/passwd", 1, "e"))
    assert path.parent.parent == tmp_path / "objects" and ".." not in path.parts
