"""S3 locations as values (pure): ``s3://bucket/key`` parsed, joined and listed entries."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class S3Url:
    bucket: str
    key: str  # may be empty (the whole bucket)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def child(self, *parts: str) -> S3Url:
        base = self.key.rstrip("/")
        tail = "/".join(p.strip("/") for p in parts if p.strip("/"))
        return S3Url(self.bucket, f"{base}/{tail}" if base else tail)

    def as_folder(self) -> S3Url:
        """The URL as a folder prefix: ending in ``/`` (empty for the bucket's root)."""
        return S3Url(self.bucket,
                     self.key if not self.key or self.key.endswith("/") else self.key + "/")


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str


def parse_s3_url(uri: str) -> S3Url:
    """``s3://bucket/key`` -> S3Url; ValueError naming what is wrong otherwise."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri!r}")
    return S3Url(bucket, key)
