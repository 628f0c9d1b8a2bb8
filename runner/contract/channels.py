"""Input channels, planned before anything is written (pure functions).

A channel's ``S3DataSource`` names its objects (``S3Prefix``: every key starting with the
prefix; ``ManifestFile``: a JSON list of keys relative to a prefix); ``ShardedByS3Key`` gives
each host a disjoint share of them, and ``ShuffleConfig`` orders them by a seeded shuffle
(afresh for each epoch of a Pipe channel, so a host's share changes between epochs); each
object lands at a path relative to the channel's
folder. A key or manifest entry whose path would leave that folder (``..``, an absolute path,
a NUL) refuses the whole channel, so nothing of it is written.
"""

from __future__ import annotations

import json
import posixpath
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from runner.core.s3_urls import S3Object, S3Url, parse_s3_url

T = TypeVar("T")


class ChannelError(Exception):
    """A channel cannot be staged; the message names the channel and says why."""


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    uri: str
    mode: str  # File, FastFile or Pipe
    data_type: str  # S3Prefix, ManifestFile, AugmentedManifestFile
    distribution: str  # FullyReplicated or ShardedByS3Key
    compression: str  # None or Gzip
    record_wrapper: str = "None"  # None or RecordIO
    shuffle_seed: int | None = None  # ShuffleConfig.Seed; None: key order

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://")

    @property
    def sharded(self) -> bool:
        return self.distribution == "ShardedByS3Key"


@dataclass(frozen=True)
class PlannedObject:
    """One object of a channel: where it is and where it goes (relative to the channel)."""

    relpath: str
    bucket: str
    key: str
    size: int | None = None  # None: not known yet (manifest entries)
    etag: str | None = None


def channel_specs(request: dict[str, Any]) -> list[ChannelSpec]:
    default_mode = (request.get("AlgorithmSpecification") or {}).get("TrainingInputMode") or "File"
    out = []
    for channel in request.get("InputDataConfig") or []:
        s3 = channel["DataSource"]["S3DataSource"]
        out.append(ChannelSpec(
            name=channel["ChannelName"],
            uri=s3["S3Uri"],
            mode=channel.get("InputMode") or default_mode,
            data_type=s3.get("S3DataType", "S3Prefix"),
            distribution=s3.get("S3DataDistributionType", "FullyReplicated"),
            compression=channel.get("CompressionType") or "None",
            record_wrapper=channel.get("RecordWrapperType") or "None",
            shuffle_seed=(channel.get("ShuffleConfig") or {}).get("Seed"),
        ))
    return out


def safe_relpath(rel: str, channel: str, origin: str) -> str:
    """``rel`` normalised (``a//./b`` -> ``a/b``), or ChannelError when it would leave the
    channel's folder or cannot be a file name."""
    problem = None
    if "\0" in rel:
        problem = "contains a NUL character"
    elif rel.startswith("/"):
        problem = "is an absolute path"
    else:
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        if ".." in parts:
            problem = "contains a '..' path component"
        elif not parts:
            problem = "names no file"
        else:
            return "/".join(parts)
    raise ChannelError(
        f"channel {channel!r}: {origin} {problem}: it would land outside "
        f"/opt/ml/input/data/{channel}; nothing of the channel was written"
    )


def relative_key(prefix: str, key: str) -> str:
    """Where object ``key`` of ``S3Prefix`` ``prefix`` lands: the rest of the key after the
    prefix (one separating ``/`` dropped); the object's base name when the prefix names it."""
    if key == prefix:
        return posixpath.basename(key)
    rest = key[len(prefix):]
    if not prefix.endswith("/") and rest.startswith("/"):
        rest = rest[1:]
    return rest


def plan_prefix(channel: str, url: S3Url, objects: Iterable[S3Object]) -> list[PlannedObject]:
    planned = []
    for obj in objects:
        rel = safe_relpath(relative_key(url.key, obj.key), channel, f"key {obj.key!r}")
        planned.append(PlannedObject(rel, url.bucket, obj.key, obj.size, obj.etag))
    return planned


def parse_manifest(data: bytes, channel: str, where: str) -> tuple[S3Url, list[str]]:
    """A manifest file: ``[{"prefix": "s3://bucket/prefix/"}, "relative/key", ...]``."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ChannelError(f"channel {channel!r}: manifest {where} is not JSON: {exc}") from None
    if (not isinstance(doc, list) or not doc or not isinstance(doc[0], dict)
            or not isinstance(doc[0].get("prefix"), str)):
        raise ChannelError(
            f"channel {channel!r}: manifest {where} must be a JSON list starting with "
            '{"prefix": "s3://bucket/prefix/"} followed by keys relative to it'
        )
    try:
        prefix = parse_s3_url(doc[0]["prefix"])
    except ValueError as exc:
        raise ChannelError(f"channel {channel!r}: manifest {where}: prefix {exc}") from None
    entries = doc[1:]
    for i, entry in enumerate(entries):
        if not isinstance(entry, str):
            raise ChannelError(
                f"channel {channel!r}: manifest {where}: entry {i + 1} is not a string")
    return prefix, entries


def plan_manifest(channel: str, prefix: S3Url, entries: Sequence[str]) -> list[PlannedObject]:
    planned: dict[str, PlannedObject] = {}
    for entry in entries:
        rel = safe_relpath(entry, channel, f"manifest entry {entry!r}")
        planned.setdefault(rel, PlannedObject(rel, prefix.bucket, prefix.key + entry))
    return list(planned.values())


def epoch_order(items: Sequence[T], seed: int | None, epoch: int = 0, key: Any = None) -> list[T]:
    """The items in key order, or with a ``ShuffleConfig`` seed in an order drawn from
    (seed, epoch): the same on every host, another one each epoch."""
    ordered = sorted(items, key=key) if key is not None else sorted(items)  # type: ignore[type-var]
    if seed is not None:
        random.Random(f"{seed}/{epoch}").shuffle(ordered)
    return ordered


def host_share(
    channel: ChannelSpec, items: Sequence[T], host_index: int, host_count: int, epoch: int = 0,
    key: Any = None,
) -> list[T]:
    """What one host of ``host_count`` gets of a channel's items (objects, keys, files) in
    ``epoch``: everything (FullyReplicated), or every ``host_count``-th item of the epoch's
    order (ShardedByS3Key), so the shares of one epoch are disjoint and cover everything."""
    ordered = epoch_order(items, channel.shuffle_seed, epoch, key)
    if not channel.sharded or host_count <= 1:
        return ordered
    return ordered[host_index::host_count]


def planned_share(
    channel: ChannelSpec, planned: list[PlannedObject], host_index: int, host_count: int
) -> list[PlannedObject]:
    """A File-mode host's share of the planned objects (the first epoch's)."""
    return host_share(channel, planned, host_index, host_count, key=lambda p: p.key)


def check_layout(channel: str, planned: Iterable[PlannedObject]) -> None:
    """Two objects that need the same path, or one that needs a folder where another is a
    file (``a`` and ``a/b``), cannot both land: ChannelError."""
    files: dict[str, str] = {}
    for p in planned:
        if p.relpath in files and files[p.relpath] != p.key:
            raise ChannelError(f"channel {channel!r}: keys {files[p.relpath]!r} and {p.key!r} both "
                               f"land at {p.relpath!r}")
        files[p.relpath] = p.key
    for rel, key in files.items():
        parent = posixpath.dirname(rel)
        while parent:
            if parent in files:
                raise ChannelError(
                    f"channel {channel!r}: key {files[parent]!r} is a file where key {key!r} "
                    "needs a folder"
                )
            parent = posixpath.dirname(parent)
