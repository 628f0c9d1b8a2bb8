"""Reading and copying folders that a user or a container filled, without ever following a link.

A ``file://`` channel's folder may be a former checkpoint folder that a container wrote, and
a container writes the folders behind its /opt/ml (model, output, FIFO folders, checkpoints)
while the runner reads them. Such a folder can hold symlinks (to ``/etc/shadow``, to ``../../``
outside it, to a folder, to itself), FIFOs (reading one blocks forever) and device nodes. So
every read here goes one path component at a time from the folder named, with
``O_NOFOLLOW`` (a link anywhere along the way is refused), and opens only regular files
(``O_NONBLOCK`` first, so a FIFO swapped in cannot block the open; checked with ``fstat``).
Folders are walked through their descriptors without following folder links.

The folder itself is the one the request names, taken as the path resolves (a link in the
path you name is yours); nothing under it is ever followed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | _CLOEXEC
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC
#: Folders nested deeper are left out (an S3 key, at most 1024 bytes, cannot be); a container
#: nesting thousands of folders cannot exhaust the runner's stack or descriptors.
MAX_DEPTH = 256


class UnsafeFile(OSError):
    """A path that is not a regular file reached without links (a link, a FIFO, a device)."""


def kind(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is, in words."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def _parts(relpath: str) -> list[str]:
    parts = [p for p in relpath.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise UnsafeFile(f"{relpath!r} names no file inside its folder")
    return parts


def open_dir(root: Path, parts: Sequence[str] = ()) -> int:
    """A descriptor of ``root/parts...``: ``root`` as it resolves, each part below it opened
    without following a link (a link there raises UnsafeFile)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    return _descend(fd, parts, create=False)


def _descend(fd: int, parts: Sequence[str], create: bool) -> int:
    """From the folder ``fd`` (closed on the way) down ``parts``, none followed as a link;
    with ``create``, each part made when missing."""
    try:
        for i, part in enumerate(parts):
            if create:
                if part in ("", ".", ".."):
                    raise UnsafeFile(f"{part!r} is not a folder name")
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
            next_fd = open_dir_at(fd, part, None if create else "/".join(parts[: i + 1]))
            os.close(fd)
            fd = next_fd
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_dir_at(dir_fd: int, name: str, shown: str | None = None) -> int:
    """The folder ``name`` in the folder ``dir_fd``, opened without following a link."""
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            what = shown or name
            raise UnsafeFile(f"{what!r} is not a folder (links are never followed)") from None
        raise


def open_regular_at(dir_fd: int, name: str, shown: str) -> BinaryIO:
    """Open ``name`` in the folder ``dir_fd`` for reading if it is a regular file (not a link,
    FIFO or device; ``shown`` names it in the error)."""
    try:
        fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile(f"{shown!r} is a symbolic link: never followed") from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise UnsafeFile(f"{shown!r} is {kind(mode)}, not a regular file: never read")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def open_no_follow(root: Path, relpath: str) -> BinaryIO:
    """Open ``root/relpath`` for reading, refusing a link anywhere along the way and anything
    but a regular file at its end (UnsafeFile, an OSError)."""
    parts = _parts(relpath)
    dir_fd = open_dir(root, parts[:-1])
    try:
        return open_regular_at(dir_fd, parts[-1], relpath)
    finally:
        os.close(dir_fd)


def read_chunks(root: Path, relpath: str, chunk: int = CHUNK) -> Iterator[bytes]:
    """``root/relpath``'s bytes, opened as ``open_no_follow`` does."""
    with open_no_follow(root, relpath) as fh:
        while block := fh.read(chunk):
            yield block


@dataclass(frozen=True)
class FolderScan:
    """What a user's folder holds: its regular files, and what was left out."""

    root: Path  # the folder walked (a named file's folder), resolved
    files: dict[str, str] = field(default_factory=dict)  # path in the channel -> path under root
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, what it is), left out
    named_file: bool = False  # the path named is a file, not a folder

    def sources(self, names: Sequence[str]) -> list[tuple[str, Path]]:
        """``(path in the channel, file on this machine)`` pairs for ``names``."""
        return [(name, self.root / self.files[name]) for name in names]


def scan(named: Path) -> FolderScan:
    """The regular files under the folder ``named`` (or the file ``named`` itself), in key
    order; links (to files, folders, outside, loops), FIFOs, devices and sockets are listed in
    ``skipped``, never followed or opened. FileNotFoundError when ``named`` does not exist;
    UnsafeFile when it is neither a folder nor a regular file."""
    real = Path(os.path.realpath(named))
    mode = os.stat(real).st_mode
    if stat.S_ISREG(mode):
        return FolderScan(real.parent, {named.name: real.name}, named_file=True)
    if not stat.S_ISDIR(mode):
        raise UnsafeFile(f"{str(named)!r} is {kind(mode)}, neither a folder nor a regular file")
    files: dict[str, str] = {}
    skipped: list[tuple[str, str]] = []
    fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    try:
        _walk(fd, "", files, skipped)
    finally:
        os.close(fd)
    return FolderScan(real, dict(sorted(files.items())), skipped)  # key order, as S3 lists


def _walk(dir_fd: int, prefix: str, files: dict[str, str], skipped: list[tuple[str, str]]) -> None:
    with os.scandir(dir_fd) as it:
        names = sorted(e.name for e in it)
    for name in names:
        rel = prefix + name
        try:
            mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
        except OSError:
            continue  # gone meanwhile
        if stat.S_ISDIR(mode):
            if rel.count("/") >= MAX_DEPTH:
                skipped.append((rel, f"a folder nested over {MAX_DEPTH} deep"))
                continue
            try:
                sub = open_dir_at(dir_fd, name, rel)
            except OSError:
                skipped.append((rel, "a folder that could not be opened"))
                continue
            try:
                _walk(sub, rel + "/", files, skipped)
            finally:
                os.close(sub)
        elif stat.S_ISREG(mode):
            files[rel] = rel
        else:
            skipped.append((rel, kind(mode)))


def link_or_copy(root: Path, relpath: str, dest: Path, link: bool = True) -> None:
    """Place the regular file ``root/relpath`` at ``dest`` (a new path): a hard link where the
    file system allows (and ``link``), else a copy (one the container may change without
    changing the source); neither ever follows a link (UnsafeFile when the source is not a
    regular file reached without links)."""
    parts = _parts(relpath)
    dir_fd = open_dir(root, parts[:-1])
    try:
        try:
            if not link:
                raise OSError("a copy is asked for")
            os.link(parts[-1], dest, src_dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            pass  # another file system, or no hard links allowed: copy below
        else:
            mode = os.lstat(dest).st_mode
            if stat.S_ISREG(mode):
                return
            os.unlink(dest)  # linked a link, FIFO or device itself (swapped in since the scan)
            raise UnsafeFile(f"{relpath!r} is {kind(mode)}, not a regular file: never read")
        with open_regular_at(dir_fd, parts[-1], relpath) as src:
            out = os.open(dest, NEW_FILE_FLAGS, 0o644)
            try:
                with os.fdopen(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(dest)
                raise
    finally:
        os.close(dir_fd)


def make_dirs(base: Path, parts: Sequence[str]) -> int:
    """A descriptor of ``base/parts...``, each part created when missing and opened without
    following a link (a link there raises UnsafeFile); ``base`` is created as it resolves."""
    base.mkdir(parents=True, exist_ok=True)
    return _descend(open_dir(base), parts, create=True)

