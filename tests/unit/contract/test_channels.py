"""Tests for runner.contract.channels: where each object of a channel lands, and what is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runner.aws.s3 import S3Object, S3Url, parse_s3_url
from runner.contract.channels import (
    ChannelError,
    ChannelSpec,
    PlannedObject,
    channel_specs,
    check_layout,
    host_share,
    parse_manifest,
    plan_manifest,
    plan_prefix,
    planned_share,
    relative_key,
    safe_relpath,
)


def objects(*keys: str) -> list[S3Object]:
    return [S3Object(k, 1, f"etag-{k}") for k in keys]


def test_parse_s3_url() -> None:
    assert parse_s3_url("s3://bucket/a/b/") == S3Url("bucket", "a/b/")
    assert parse_s3_url("s3://bucket") == S3Url("bucket", "")
    assert str(S3Url("b", "x/y")) == "s3://b/x/y"
    assert S3Url("b", "x/").child("job", "output") == S3Url("b", "x/job/output")
    assert S3Url("b", "").child("m.tar.gz") == S3Url("b", "m.tar.gz")
    assert S3Url("b", "ckpt").as_folder() == S3Url("b", "ckpt/")
    for bad in ("s3:///key", "file://x", "bucket/key"):
        with pytest.raises(ValueError):
            parse_s3_url(bad)


@pytest.mark.parametrize(("prefix", "key", "rel"), [
    ("data/train", "data/train/a.csv", "a.csv"),
    ("data/train/", "data/train/sub/b.csv", "sub/b.csv"),
    ("data/train", "data/train.csv", ".csv"),  # a string prefix, as S3 lists it
    ("data/train.csv", "data/train.csv", "train.csv"),  # the prefix names one object
    ("", "top.csv", "top.csv"),
])
def test_relative_key(prefix: str, key: str, rel: str) -> None:
    assert relative_key(prefix, key) == rel


def test_safe_relpath_normalises() -> None:
    assert safe_relpath("a//./b", "train", "key") == "a/b"


@pytest.mark.parametrize(("rel", "why"), [
    ("../etc/passwd", "'..' path component"),
    ("a/../../b", "'..' path component"),
    ("/etc/passwd", "absolute path"),
    ("a\0b", "NUL"),
    ("./", "names no file"),
])
def test_safe_relpath_refuses(rel: str, why: str) -> None:
    with pytest.raises(ChannelError) as exc:
        safe_relpath(rel, "train", f"key {rel!r}")
    assert why in str(exc.value)
    assert "outside /opt/ml/input/data/train" in str(exc.value)
    assert "nothing of the channel was written" in str(exc.value)


def test_plan_prefix_refuses_a_traversal_key_whole() -> None:
    url = S3Url("b", "data/train")
    with pytest.raises(ChannelError) as exc:
        plan_prefix("train", url, objects("data/train/ok.csv", "data/train/../../../root/.bashrc"))
    assert "'data/train/../../../root/.bashrc'" in str(exc.value)
    # a doubled slash after the prefix makes an absolute path: refused too
    with pytest.raises(ChannelError, match="absolute path"):
        plan_prefix("train", url, objects("data/train//etc/cron.d/x"))


def test_plan_prefix_paths_sizes_and_etags() -> None:
    planned = plan_prefix("train", S3Url("b", "p/"), [S3Object("p/x/1.csv", 5, "e1")])
    assert planned == [PlannedObject("x/1.csv", "b", "p/x/1.csv", 5, "e1")]


def manifest(prefix: str, *entries: Any) -> bytes:
    return json.dumps([{"prefix": prefix}, *entries]).encode()


def test_manifest_parse_and_plan() -> None:
    prefix, entries = parse_manifest(manifest("s3://data-bkt/root/", "a/1.csv", "b.csv", "a/1.csv"),
                                     "train", "m")
    assert prefix == S3Url("data-bkt", "root/")
    planned = plan_manifest("train", prefix, entries)
    assert [(p.relpath, p.bucket, p.key) for p in planned] == [
        ("a/1.csv", "data-bkt", "root/a/1.csv"),
        ("b.csv", "data-bkt", "root/b.csv"),  # the duplicate entry once
    ]


@pytest.mark.parametrize("data", [
    b"not json",
    json.dumps({"prefix": "s3://b/"}).encode(),
    json.dumps(["a.csv"]).encode(),
    json.dumps([{"prefix": "file:///x"}, "a"]).encode(),
    json.dumps([{"prefix": "s3://b/"}, 3]).encode(),
])
def test_manifest_errors(data: bytes) -> None:
    with pytest.raises(ChannelError, match="channel 'train': manifest"):
        parse_manifest(data, "train", "s3://b/m.json")


def test_manifest_traversal_entry_refused() -> None:
    prefix, entries = parse_manifest(manifest("s3://b/root/", "ok.csv", "../../escape"), "train",
                                     "m")
    with pytest.raises(ChannelError, match="manifest entry '../../escape'"):
        plan_manifest("train", prefix, entries)
    prefix, entries = parse_manifest(manifest("s3://b/root/", "/abs"), "train", "m")
    with pytest.raises(ChannelError, match="absolute path"):
        plan_manifest("train", prefix, entries)


def test_shards_are_disjoint_and_cover_everything() -> None:
    keys = [f"k{i:03d}" for i in range(101)]
    for hosts in (1, 2, 3, 7):
        shares = [host_share(channel(distribution="ShardedByS3Key"), keys, i, hosts)
                  for i in range(hosts)]
        flat = [k for s in shares for k in s]
        assert sorted(flat) == keys and len(flat) == len(set(flat))
        assert max(map(len, shares)) - min(map(len, shares)) <= 1


def channel(**kw: Any) -> ChannelSpec:
    base = {"name": "train", "uri": "s3://b/p", "mode": "File", "data_type": "S3Prefix",
            "distribution": "FullyReplicated", "compression": "None"}
    return ChannelSpec(**{**base, **kw})


def test_host_share_fully_replicated_vs_sharded() -> None:
    planned = [PlannedObject(f"{i}", "b", f"p/{i}") for i in range(4)]
    assert len(planned_share(channel(), planned, 1, 2)) == 4
    sharded = channel(distribution="ShardedByS3Key")
    assert [p.key for p in planned_share(sharded, planned, 0, 2)] == ["p/0", "p/2"]
    assert [p.key for p in planned_share(sharded, planned, 1, 2)] == ["p/1", "p/3"]
    assert len(planned_share(sharded, planned, 0, 1)) == 4


def test_shuffle_config_orders_by_seed_and_epoch() -> None:
    keys = [f"k{i:02d}" for i in range(40)]
    shuffled = channel(shuffle_seed=7)
    first = host_share(shuffled, keys, 0, 1, epoch=0)
    assert sorted(first) == keys and first != keys  # a permutation, not key order
    # input order does not matter
    assert host_share(shuffled, list(reversed(keys)), 0, 1, epoch=0) == first
    assert host_share(shuffled, keys, 0, 1, epoch=1) != first  # another order each epoch
    assert host_share(channel(shuffle_seed=8), keys, 0, 1, epoch=0) != first
    assert host_share(channel(), keys, 0, 1, epoch=3) == keys  # no ShuffleConfig: key order


def test_shuffled_shards_are_disjoint_each_epoch_and_move_between_epochs() -> None:
    keys = [f"k{i:02d}" for i in range(30)]
    sharded = channel(distribution="ShardedByS3Key", shuffle_seed=1)
    by_epoch = []
    for epoch in range(3):
        shares = [host_share(sharded, keys, i, 3, epoch=epoch) for i in range(3)]
        flat = [k for share in shares for k in share]
        assert sorted(flat) == keys and len(flat) == len(set(flat))
        by_epoch.append(set(shares[0]))
    assert by_epoch[0] != by_epoch[1]  # what a host gets changes between epochs


def test_channel_specs_read_shuffle_config() -> None:
    request = {"AlgorithmSpecification": {"TrainingInputMode": "Pipe"}, "InputDataConfig": [
        {"ChannelName": "a", "ShuffleConfig": {"Seed": 42},
         "DataSource": {"S3DataSource": {"S3Uri": "s3://b/a"}}},
        {"ChannelName": "b", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/b"}}},
    ]}
    assert [c.shuffle_seed for c in channel_specs(request)] == [42, None]


def test_check_layout_file_where_a_folder_is_needed() -> None:
    with pytest.raises(ChannelError, match="is a file where key 'p/a/b' needs a folder"):
        check_layout("train", [PlannedObject("a", "b", "p/a"), PlannedObject("a/b", "b", "p/a/b")])
    check_layout("train", [PlannedObject("a/x", "b", "p/a/x"), PlannedObject("a/y", "b", "p/a/y")])


def test_channel_specs_inherit_the_mode() -> None:
    request = {
        "AlgorithmSpecification": {"TrainingInputMode": "FastFile"},
        "InputDataConfig": [
            {"ChannelName": "a",
             "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://b/m"}}},
            {"ChannelName": "b", "InputMode": "Pipe", "CompressionType": "Gzip",
             "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "file://x",
                                             "S3DataDistributionType": "ShardedByS3Key"}}},
        ],
    }
    a, b = channel_specs(request)
    assert (a.mode, a.data_type, a.is_s3, a.sharded, a.compression) == ("FastFile", "ManifestFile",
                                                                        True, False, "None")
    assert (b.mode, b.is_s3, b.sharded, b.compression) == ("Pipe", False, True, "Gzip")
