"""Tar archives in and out, with members that can never escape.

``write_tar_gz`` packs a folder (symlinks stored as links, never followed, files opened without
following links, FIFOs and devices left out, so an archive of a container's folder cannot
carry the host's files nor block on a FIFO; a failed write leaves no temporary file).
``safe_extract`` unpacks into a folder and refuses, before writing anything, a member that
would land outside it: an absolute name, a ``..`` component, a link whose target leaves the
folder, a device or FIFO.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from runner.core.safe_files import (
    DIR_FLAGS,
    MAX_DEPTH,
    NEW_FILE_FLAGS,
    make_dirs,
    open_dir_at,
    open_regular_at,
)


class UnsafeArchive(Exception):
    """An archive holds a member that would be written outside the target folder."""


def write_tar_gz(
    source: Path, destination: Path, compresslevel: int = 6, within: Path | None = None,
) -> None:
    """``source``'s content (not the folder itself) as ``destination``, written whole or not at
    all: the temporary file next to it is removed on any failure (a full disk). Regular files
    are read without following links; symlinks are stored as links; FIFOs, devices and sockets
    are left out. With ``within``, the folders from ``within`` down to ``destination``'s are
    created and entered without following a link, so a link planted there cannot send the
    archive elsewhere."""
    parts = destination.parent.relative_to(within).parts if within is not None else ()
    dir_fd = make_dirs(within if within is not None else destination.parent, parts)
    name, tmp = destination.name, destination.name + ".tmp"
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)  # a leftover (or a link planted in its place)
        out = os.open(tmp, NEW_FILE_FLAGS, 0o644, dir_fd=dir_fd)
        try:
            with (
                os.fdopen(out, "wb") as raw,
                tarfile.open(fileobj=raw, mode="w:gz", compresslevel=compresslevel) as tar,
            ):
                _add_folder(tar, source)
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
            raise
    finally:
        os.close(dir_fd)


def _add_folder(tar: tarfile.TarFile, source: Path) -> None:
    """Everything under ``source`` (nothing when it is missing or a link)."""
    try:
        fd = os.open(source, DIR_FLAGS)
    except OSError:
        return
    try:
        _add_entries(tar, fd, "")
    finally:
        os.close(fd)


def _add_entries(tar: tarfile.TarFile, dir_fd: int, prefix: str) -> None:
    with os.scandir(dir_fd) as it:
        names = sorted(e.name for e in it)
    for name in names:
        arcname = prefix + name
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            continue  # gone meanwhile
        if stat.S_ISREG(st.st_mode):
            try:
                fh = open_regular_at(dir_fd, name, arcname)
            except OSError:
                continue  # swapped for something else since
            with fh:
                tar.addfile(tar.gettarinfo(arcname=arcname, fileobj=fh), fh)
        elif stat.S_ISLNK(st.st_mode):
            with contextlib.suppress(OSError):
                tar.addfile(_info(arcname, st, tarfile.SYMTYPE, os.readlink(name, dir_fd=dir_fd)))
        elif stat.S_ISDIR(st.st_mode) and arcname.count("/") < MAX_DEPTH:
            try:
                sub = open_dir_at(dir_fd, name, arcname)
            except OSError:
                continue
            try:
                tar.addfile(_info(arcname, os.fstat(sub), tarfile.DIRTYPE))
                _add_entries(tar, sub, arcname + "/")
            finally:
                os.close(sub)
        # FIFOs, devices, sockets: no content to archive, and safe_extract refuses them;
        # folders nested over MAX_DEPTH deep: left out


def _info(name: str, st: os.stat_result, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = int(st.st_mtime)
    return info


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


def list_members(chunks: Iterable[bytes]) -> list[tuple[str, int]]:
    """The (name, size) of each file in a tar.gz that arrives as ``chunks`` (read as a stream:
    nothing is written, and the whole archive is never in memory), in archive order."""
    with tarfile.open(fileobj=_ChunkReader(iter(chunks)), mode="r|*") as tar:
        return [(m.name, m.size) for m in tar if m.isfile()]


class _ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            try:
                self._left = next(self._chunks)
            except StopIteration:
                return 0
        count = min(len(buffer), len(self._left))
        buffer[:count] = self._left[:count]
        self._left = self._left[count:]
        return count
