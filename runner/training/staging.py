"""Staging ``s3://`` channels: list, plan, download what the cache lacks, place in the workspace.

Objects are downloaded in parallel into a cache under the store's home, one file per object
version: ``<home>/cache/s3/objects/<h[:2]>/<h>`` where ``h`` hashes bucket, key, ETag and
size. An object already cached with the same ETag is not downloaded again; a changed one has
a new ETag and so a new entry. The cache path never derives from the key itself, so no key
can steer a write. Channel files are then hard links to the cache entries (copies across
file systems), mounted read-only, so the container cannot alter the cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from runner.aws import s3
from runner.aws.s3 import parse_s3_url
from runner.contract.channels import (
    ChannelError,
    ChannelSpec,
    PlannedObject,
    check_layout,
    parse_manifest,
    plan_manifest,
    plan_prefix,
    planned_share,
)

HEAD_CONCURRENCY = 16


class ChannelWorkspace(Protocol):
    def add_channel_files(self, channel: str, files: Sequence[tuple[str, Path]],
                          root: Path | None = None, writable: bool = False) -> None: ...


class ObjectCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, obj: PlannedObject) -> Path:
        ident = f"{obj.bucket}\0{obj.key}\0{obj.etag}\0{obj.size}".encode()
        digest = hashlib.sha256(ident).hexdigest()
        return self.root / "objects" / digest[:2] / digest

    def has(self, obj: PlannedObject) -> bool:
        if not obj.etag:
            return False
        try:
            return self.path(obj).stat().st_size == obj.size
        except OSError:
            return False


@dataclass(frozen=True)
class StagedChannel:
    name: str
    objects: int
    downloaded: int
    bytes: int


def plan_s3_channel(
    client: Any, channel: ChannelSpec, host_index: int = 0, host_count: int = 1
) -> list[PlannedObject]:
    """This host's objects of ``channel``, each with its size and ETag; ChannelError when the
    channel is empty or a key would land outside its folder. A host's share of a sharded
    channel may be empty (fewer objects than hosts): as on SageMaker, it gets no data."""
    url = parse_s3_url(channel.uri)
    if channel.data_type == "ManifestFile":
        data = s3.read_object(client, url.bucket, url.key)
        prefix, entries = parse_manifest(data, channel.name, str(url))
        every = plan_manifest(channel.name, prefix, entries)
    elif channel.data_type == "S3Prefix":
        every = plan_prefix(channel.name, url, s3.list_objects(client, url))
    else:
        raise ChannelError(f"channel {channel.name!r}: S3DataType {channel.data_type} is not "
                           "supported locally (S3Prefix and ManifestFile are)")
    if not every:
        raise ChannelError(f"channel {channel.name!r}: no S3 objects found under {channel.uri}")
    planned = planned_share(channel, every, host_index, host_count)
    if channel.data_type == "ManifestFile":
        planned = _with_sizes(client, planned)
    check_layout(channel.name, planned)
    return planned


def _with_sizes(client: Any, planned: list[PlannedObject]) -> list[PlannedObject]:
    def head(p: PlannedObject) -> PlannedObject:
        found = s3.head_object(client, p.bucket, p.key)
        return replace(p, size=found.size, etag=found.etag)

    with ThreadPoolExecutor(HEAD_CONCURRENCY) as pool:
        return list(pool.map(head, planned))


def stage_s3_channel(
    client: Any, channel: ChannelSpec, planned: list[PlannedObject], workspace: ChannelWorkspace,
    cache: ObjectCache, concurrency: int = s3.DEFAULT_CONCURRENCY,
) -> StagedChannel:
    """Download what the cache lacks, then place every object in the channel's folder:
    File mode's as copies the container may change (as on the instance's volume), FastFile's
    linked from the cache, read-only (as SageMaker's FastFile mount is)."""
    missing: dict[Path, PlannedObject] = {}
    for p in planned:
        if not cache.has(p):
            missing.setdefault(cache.path(p), p)
    downloads = [s3.Download(p.bucket, p.key, p.size or 0, path, p.etag)
                 for path, p in missing.items()]
    s3.transfer(client, downloads=downloads, concurrency=concurrency)
    workspace.add_channel_files(channel.name, [(p.relpath, cache.path(p)) for p in planned],
                                writable=channel.mode == "File")
    return StagedChannel(channel.name, len(planned), len(downloads),
                         sum(p.size or 0 for p in planned))
