"""S3 itself: URIs, listings and parallel transfers, over an injected boto3 S3 client.

Many objects move at once on a thread pool, one request each; objects over 8 MiB go through
s3transfer's ``TransferManager`` (what ``aws s3`` uses) in ranged or multipart parts, given
the size the listing already knows, so no download costs a HEAD.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from runner.aws.clients import AwsError, error_message
from runner.core.s3_urls import S3Object, S3Url, parse_s3_url

__all__ = ["S3Object", "S3Url", "parse_s3_url"]  # the pure parts, for the callers of old

MB = 1024 * 1024
MULTIPART_THRESHOLD = 8 * MB
DEFAULT_CONCURRENCY = 32


def list_objects(client: Any, url: S3Url) -> Iterator[S3Object]:
    """Every object whose key starts with ``url.key`` (``/``-ending folder markers left out)."""
    try:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=url.bucket, Prefix=url.key)
        for page in pages:
            for item in page.get("Contents") or []:
                if item["Key"].endswith("/") and item.get("Size", 0) == 0:
                    continue
                yield S3Object(item["Key"], int(item.get("Size", 0)),
                               str(item.get("ETag", "")).strip('"'))
    except Exception as exc:
        raise AwsError(f"cannot list {url}: {error_message(exc)}") from None


def head_object(client: Any, bucket: str, key: str) -> S3Object:
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        raise AwsError(f"cannot read s3://{bucket}/{key}: {error_message(exc)}") from None
    return S3Object(key, int(head.get("ContentLength", 0)), str(head.get("ETag", "")).strip('"'))


def read_object(client: Any, bucket: str, key: str, limit: int = 64 * MB) -> bytes:
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        data: bytes = body.read(limit + 1)
    except Exception as exc:
        raise AwsError(f"cannot read s3://{bucket}/{key}: {error_message(exc)}") from None
    if len(data) > limit:
        raise AwsError(f"s3://{bucket}/{key} is larger than {limit} bytes")
    return data


def stream_object(client: Any, bucket: str, key: str, chunk: int = MB) -> Iterator[bytes]:
    """An object's bytes as they arrive."""
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        yield from body.iter_chunks(chunk)
    except Exception as exc:
        raise AwsError(f"cannot read s3://{bucket}/{key}: {error_message(exc)}") from None


def delete_objects(client: Any, bucket: str, keys: Iterable[str]) -> None:
    batch: list[str] = []
    for key in keys:
        batch.append(key)
        if len(batch) == 1000:
            _delete(client, bucket, batch)
            batch = []
    if batch:
        _delete(client, bucket, batch)


def _delete(client: Any, bucket: str, keys: list[str]) -> None:
    try:
        answer = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys],
                                                              "Quiet": True})
    except Exception as exc:
        raise AwsError(f"cannot delete from s3://{bucket}: {error_message(exc)}") from None
    errors = answer.get("Errors") or []
    if errors:
        first = errors[0]
        raise AwsError(f"cannot delete s3://{bucket}/{first.get('Key')}: {first.get('Code')}: "
                       f"{first.get('Message')}")


@dataclass(frozen=True)
class Download:
    bucket: str
    key: str
    size: int
    destination: Path
    etag: str | None = None  # when given, a changed object fails the download (small ones)


@dataclass(frozen=True)
class Upload:
    source: Path | BinaryIO  # a path, or an open (seekable) file
    bucket: str
    key: str

    def size(self) -> int:
        if isinstance(self.source, Path):
            return self.source.stat().st_size
        here = self.source.tell()
        end = self.source.seek(0, os.SEEK_END)
        self.source.seek(here)
        return end - here


def transfer(
    client: Any,
    downloads: Iterable[Download] = (),
    uploads: Iterable[Upload] = (),
    concurrency: int = DEFAULT_CONCURRENCY,
) -> None:
    """Run every transfer in parallel; raises AwsError for the first that failed (the rest
    are cancelled). Objects under the multipart threshold take one request each on a thread
    pool (s3transfer's per-transfer machinery costs more than the request itself there);
    larger ones go through s3transfer in parts. Each download lands whole or not at all (a
    temporary name, then a rename)."""
    small: list[Download | Upload] = []
    large: list[Download | Upload] = []
    items: list[Download | Upload] = [*downloads, *uploads]
    for item in items:
        size = item.size if isinstance(item, Download) else item.size()
        (large if size >= MULTIPART_THRESHOLD else small).append(item)
    if small:
        with ThreadPoolExecutor(max(1, min(concurrency, len(small)))) as pool:
            futures = [pool.submit(_one_request, client, item) for item in small]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    if large:
        _transfer_managed(client, large, concurrency)


def _describe(item: Download | Upload, exc: BaseException) -> AwsError:
    verb = "download" if isinstance(item, Download) else "upload to"
    return AwsError(f"cannot {verb} s3://{item.bucket}/{item.key}: {error_message(exc)}")


def _one_request(client: Any, item: Download | Upload) -> None:
    try:
        if isinstance(item, Upload):
            if isinstance(item.source, Path):
                with item.source.open("rb") as fh:
                    client.put_object(Bucket=item.bucket, Key=item.key, Body=fh)
            else:
                client.put_object(Bucket=item.bucket, Key=item.key, Body=item.source)
            return
        item.destination.parent.mkdir(parents=True, exist_ok=True)
        tmp = item.destination.with_name(f".{item.destination.name}.{uuid.uuid4().hex[:8]}.part")
        extra = {"IfMatch": f'"{item.etag}"'} if item.etag else {}
        try:
            body = client.get_object(Bucket=item.bucket, Key=item.key, **extra)["Body"]
            with tmp.open("wb") as fh:
                for chunk in body.iter_chunks(MB):
                    fh.write(chunk)
            os.replace(tmp, item.destination)
        finally:
            tmp.unlink(missing_ok=True)
    except Exception as exc:
        raise _describe(item, exc) from None


def _transfer_managed(client: Any, items: list[Download | Upload], concurrency: int) -> None:
    from s3transfer.manager import TransferConfig, TransferManager

    config = TransferConfig(
        multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD,
        max_request_concurrency=concurrency, max_submission_concurrency=max(4, concurrency // 4),
    )
    jobs: list[tuple[Download | Upload, Any]] = []
    with TransferManager(client, config) as manager:
        try:
            for item in items:
                if isinstance(item, Download):
                    item.destination.parent.mkdir(parents=True, exist_ok=True)
                    known = [_KnownSize(item.size)]
                    jobs.append((item, manager.download(
                        item.bucket, item.key, str(item.destination),
                        subscribers=known)))  # type: ignore[arg-type]
                else:
                    source = str(item.source) if isinstance(item.source, Path) else item.source
                    jobs.append((item, manager.upload(source, item.bucket, item.key)))
            for item, future in jobs:
                try:
                    future.result()
                except Exception as exc:
                    raise _describe(item, exc) from None
        except BaseException:
            manager.shutdown(cancel=True)
            raise


class _KnownSize:
    """s3transfer subscriber: tells the transfer the object's size (no HeadObject)."""

    def __init__(self, size: int) -> None:
        self._size = size

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        future.meta.provide_transfer_size(self._size)

    def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
        pass

    def on_done(self, future: Any, **kwargs: Any) -> None:
        pass

