"""The folders behind one host's /opt/ml on this machine: a folder per (job, host),
bind-mounted piecewise under /opt/ml (the workspace of the Docker and fake engines)."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from runner.core.archives import write_tar_gz
from runner.core.safe_files import UnsafeFile, link_or_copy, open_dir, open_no_follow
from runner.engines.base import BackendError, Mount, WorkspaceEscape

FIFO_POLL_SECONDS = 0.05


class TreeOwner(Protocol):
    def chown_tree(self, root: Path, uid: int, gid: int) -> None: ...


_FOLDERS = ("input/config", "input/data", "model", "output/data")


class LocalWorkspace:
    """A host folder per host of a job, bind-mounted piecewise under /opt/ml."""

    def __init__(self, root: Path, backend: TreeOwner) -> None:
        self.root = root
        self._backend = backend
        self._extra: list[Mount] = []
        for sub in _FOLDERS:
            (root / sub).mkdir(parents=True, exist_ok=True)

    def write_text(self, relpath: str, text: str) -> None:
        path = self._inside(relpath)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)

    def read_text(self, relpath: str, limit: int) -> str | None:
        """The file's first ``limit`` characters; None when it is missing or not a regular file
        reached without links (the container wrote it: a link, a FIFO, a device, never
        followed nor read); WorkspaceEscape when a link there leads out of the workspace."""
        try:
            with open_no_follow(self.root, relpath) as fh:
                return fh.read(limit * 4).decode("utf-8", errors="replace")[:limit]
        except UnsafeFile:
            self._inside(relpath)  # raises WorkspaceEscape for a link out of the workspace
            return None
        except OSError:
            return None

    def mounts(self) -> list[Mount]:
        base = [
            Mount(str(self.root / "input"), "/opt/ml/input"),
            Mount(str(self.root / "model"), "/opt/ml/model"),
            Mount(str(self.root / "output"), "/opt/ml/output"),
        ]
        return base + self._extra

    def add_mount(self, mount: Mount) -> None:
        if mount.target.startswith("/opt/ml/input/data/"):
            channel = mount.target[len("/opt/ml/input/data/"):].split("/", 1)[0]
            (self.root / "input" / "data" / channel).mkdir(parents=True, exist_ok=True)
        self._extra.append(mount)

    def archive(self, relpath: str, destination: str, within: str | None = None) -> None:
        base = Path(within) if within else None
        write_tar_gz(self._inside(relpath), Path(destination), within=base)

    # -- staging (channels from S3, Pipe mode, checkpoints) ----------------------------------
    def add_channel_files(
        self, channel: str, files: Sequence[tuple[str, Path]], root: Path | None = None,
        writable: bool = False,
    ) -> None:
        """Place ``(relpath, local file)`` pairs in the channel's folder and mount it at its
        place: hard links where the file system allows (else copies), read-only; ``writable``:
        copies, which the container may change (File mode's files are on the instance's
        volume) while the sources stay as they are. With ``root`` (a user's folder holding
        every file) each file is reached from ``root`` without following a link and must be a
        regular file (``runner.core.safe_files``)."""
        folder = self._inside(f"input/data/{channel}")
        if folder.exists():
            shutil.rmtree(folder)  # a job started again: stage afresh
        folder.mkdir(parents=True)
        top = folder.resolve()
        for rel, source in files:
            dest = folder / rel
            if not dest.resolve().is_relative_to(top):
                raise BackendError(f"channel {channel!r}: {rel!r} leaves the channel's folder")
            dest.parent.mkdir(parents=True, exist_ok=True)
            if root is not None:
                try:
                    link_or_copy(root, source.relative_to(root).as_posix(), dest,
                                 link=not writable)
                except UnsafeFile as exc:
                    raise BackendError(f"channel {channel!r}: {exc}") from None
                continue
            try:
                if writable:
                    raise OSError("a copy is asked for")
                os.link(source, dest, follow_symlinks=False)
            except OSError:
                shutil.copyfile(source, dest, follow_symlinks=False)
        self.add_mount(Mount(str(folder), f"/opt/ml/input/data/{channel}",
                             read_only=not writable))

    def make_fifo(self, relpath: str) -> None:
        """A FIFO at ``relpath``, readable by any uid. The folder is the container's: it is
        entered without following links, and what is there already must be a FIFO."""
        dir_fd, name = self._parent(relpath)
        try:
            with contextlib.suppress(FileExistsError):
                os.mkfifo(name, 0o644, dir_fd=dir_fd)
            fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            try:
                if not stat.S_ISFIFO(os.fstat(fd).st_mode):
                    raise BackendError(f"{relpath} exists and is not a FIFO")
                os.chmod(f"/proc/self/fd/{fd}", 0o644)  # whatever the umask; this very FIFO
            finally:
                os.close(fd)
        finally:
            os.close(dir_fd)

    def open_fifo(self, relpath: str, stop: threading.Event) -> BinaryIO | None:
        """The FIFO's write end once a reader opened it; None when ``stop`` is set first.
        Never follows a link (the container could swap one in)."""
        while True:
            dir_fd, name = self._parent(relpath)
            try:
                path_fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            finally:
                os.close(dir_fd)
            try:
                if not stat.S_ISFIFO(os.fstat(path_fd).st_mode):
                    raise BackendError(f"{relpath} is not a FIFO")
                # this very FIFO, opened for writing (never a link, file or device swapped in)
                fd = os.open(f"/proc/self/fd/{path_fd}", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                    raise
                if stop.wait(FIFO_POLL_SECONDS):
                    return None
                continue
            finally:
                os.close(path_fd)
            os.set_blocking(fd, True)
            return os.fdopen(fd, "wb")

    def _parent(self, relpath: str) -> tuple[int, str]:
        """The folder of ``relpath`` (a descriptor, entered without following links) and the
        name in it."""
        *parents, name = relpath.split("/")
        try:
            return open_dir(self.root, parents), name
        except UnsafeFile as exc:
            raise BackendError(f"path {relpath!r}: {exc}") from None

    def local_folder(self, relpath: str) -> Path:
        path = self._inside(relpath)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def reset(self) -> None:
        """Empty what the container sees, as a new instance's volume is (a restart after a
        spot interruption); the runner's own files (markers, credentials) stay."""
        self.reclaim()
        for sub in ("input", "model", "output", "checkpoints"):
            shutil.rmtree(self.root / sub, ignore_errors=True)
        self._extra = []
        for sub in _FOLDERS:
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def reclaim(self) -> None:
        if os.getuid() == 0:
            return
        self._backend.chown_tree(self.root, os.getuid(), os.getgid())

    def _inside(self, relpath: str) -> Path:
        path = (self.root / relpath).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise WorkspaceEscape(relpath)
        return path
