"""Tar archives in and out, with members that can never escape.

``write_tar_gz`` packs a folder (symlinks stored as links, never followed, so an archive of a
container's folder cannot carry the host's files). ``safe_extract`` unpacks into a folder and
refuses, before writing anything, a member that would land outside it: an absolute name, a
``..`` component, a link whose target leaves the folder, a device or FIFO.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
from pathlib import Path


class UnsafeArchive(Exception):
    """An archive holds a member that would be written outside the target folder."""


def write_tar_gz(source: Path, destination: Path, compresslevel: int = 6) -> None:
    """``source``'s content (not the folder itself) as ``destination``, written whole or not at all."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_name(destination.name + ".tmp")
    with tarfile.open(tmp, "w:gz", compresslevel=compresslevel) as tar:
        if source.is_dir() and not source.is_symlink():
            for child in sorted(source.iterdir()):
                tar.add(child, arcname=child.name, recursive=True)
    os.replace(tmp, destination)


def check_members(members: list[tarfile.TarInfo]) -> None:
    """UnsafeArchive for the first member that could write outside the extraction folder."""
    for m in members:
        name = m.name
        if "\0" in name:
            raise UnsafeArchive(f"member {name!r}: a NUL in the name")
        if name.startswith("/") or posixpath.isabs(name):
            raise UnsafeArchive(f"member {name!r}: an absolute path")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise UnsafeArchive(f"member {name!r}: a '..' path component")
        if m.isdev() or m.isfifo():
            raise UnsafeArchive(f"member {name!r}: a device or FIFO")
        if m.issym() or m.islnk():
            target = m.linkname
            if target.startswith("/"):
                raise UnsafeArchive(f"member {name!r}: a link to the absolute path {target!r}")
            base = posixpath.dirname("/".join(parts)) if m.issym() else ""
            resolved = posixpath.normpath(posixpath.join(base, target))
            if resolved == ".." or resolved.startswith("../"):
                raise UnsafeArchive(f"member {name!r}: a link to {target!r}, outside the folder")


def safe_extract(archive: Path, destination: Path) -> list[str]:
    """Extract ``archive`` into ``destination``; returns the member names. Checks every member
    first (nothing is written when one is unsafe), then extracts with tarfile's ``data``
    filter as a second net (it also refuses links through links that leave the folder)."""
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        check_members(members)
        if not hasattr(tarfile, "data_filter"):  # Python before 3.11.4: our checks alone
            tar.extractall(destination, members=members)
            return [m.name for m in members]
        try:
            tar.extractall(destination, members=members, filter="data")
        except tarfile.FilterError as exc:
            raise UnsafeArchive(str(exc)) from None
    return [m.name for m in members]
