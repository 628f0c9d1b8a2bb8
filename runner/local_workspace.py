"""The folders behind one host's /opt/ml on this machine: a folder per (job, host),
bind-mounted piecewise under /opt/ml (the Docker backend's workspace)."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from runner.archives import write_tar_gz
from runner.backend import BackendError, Mount

FIFO_POLL_SECONDS = 0.05


class TreeOwner(Protocol):
    def chown_tree(self, root: Path, uid: int, gid: int) -> None: ...


class LocalWorkspace:
    """A host folder per host of a job, bind-mounted piecewise under /opt/ml."""

    def __init__(self, root: Path, backend: TreeOwner) -> None:
        self.root = root
        self._backend = backend
        self._extra: list[Mount] = []
        for sub in ("input/config", "input/data", "model", "output/data"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def write_text(self, relpath: str, text: str) -> None:
        path = self._inside(relpath)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)

    def read_text(self, relpath: str, limit: int) -> str | None:
        path = self._inside(relpath)
        if not path.is_file() or path.is_symlink():
            return None
        with path.open("rb") as fh:
            return fh.read(limit * 4).decode("utf-8", errors="replace")[:limit]

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

    def archive(self, relpath: str, destination: str) -> None:
        write_tar_gz(self._inside(relpath), Path(destination))

    # -- staging (channels from S3, Pipe mode, checkpoints) ----------------------------------
    def add_channel_files(self, channel: str, files: Sequence[tuple[str, Path]]) -> None:
        """Place ``(relpath, local file)`` pairs in the channel's folder (hard links where the
        file system allows, else copies) and mount it read-only at its place."""
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
            try:
                os.link(source, dest)
            except OSError:
                shutil.copyfile(source, dest)
        self.add_mount(Mount(str(folder), f"/opt/ml/input/data/{channel}", read_only=True))

    def make_fifo(self, relpath: str) -> None:
        path = self._inside(relpath)
        try:
            os.mkfifo(path, 0o644)
        except FileExistsError:
            if not stat.S_ISFIFO(os.lstat(path).st_mode):
                raise BackendError(f"{relpath} exists and is not a FIFO") from None
        os.chmod(path, 0o644)  # readable by any uid the container runs as, whatever the umask

    def open_fifo(self, relpath: str, stop: threading.Event) -> BinaryIO | None:
        """The FIFO's write end once a reader opened it; None when ``stop`` is set first."""
        path = self._inside(relpath)
        while True:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                    raise
                if stop.wait(FIFO_POLL_SECONDS):
                    return None
                continue
            os.set_blocking(fd, True)
            return os.fdopen(fd, "wb")

    def local_folder(self, relpath: str) -> Path:
        path = self._inside(relpath)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def reclaim(self) -> None:
        if os.getuid() == 0:
            return
        self._backend.chown_tree(self.root, os.getuid(), os.getgid())

    def _inside(self, relpath: str) -> Path:
        path = (self.root / relpath).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise BackendError(f"path {relpath!r} leaves the job's workspace")
        return path
