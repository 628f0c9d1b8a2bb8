"""Checkpoints: ``CheckpointConfig.S3Uri`` mirrored to and from ``LocalPath``.

Before the container starts the folder is seeded from S3; while it runs the runner syncs the
folder to S3 every few seconds (new and changed files uploaded, deleted files deleted), and
once more after it ends. A job started again with the same URI finds its checkpoints.

The folder belongs to the container, which may put symlinks, FIFOs and devices in it: files are
opened one path component at a time without following links, and only regular files are read
(``runner.core.safe_files``), so no sync can upload a file of the host's or block on a FIFO.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from runner.aws import s3
from runner.aws.clients import AwsError
from runner.aws.s3 import S3Url
from runner.contract.channels import ChannelError, plan_prefix
from runner.core.safe_files import open_no_follow

DEFAULT_INTERVAL = 5.0
Snapshot = dict[str, tuple[int, int]]  # relpath -> (size, mtime_ns)


def snapshot(root: Path) -> Snapshot:
    """Regular files under ``root`` (symlinks neither followed nor listed)."""
    found: Snapshot = {}
    for dirpath, _dirnames, filenames in os.walk(root, followlinks=False):
        for name in filenames:
            full = os.path.join(dirpath, name)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                found[os.path.relpath(full, root).replace(os.sep, "/")] = (
                    st.st_size, st.st_mtime_ns)
    return found


class CheckpointSync:
    def __init__(
        self, client: Any, url: S3Url, folder: Path, on_error: Callable[[str], None] | None = None,
        shared: bool = False,
    ) -> None:
        self._client = client
        self.shared = shared  # other hosts of the job sync to the same URI
        self.url = url.as_folder()
        self.folder = folder
        self._on_error = on_error
        self._local: Snapshot = {}
        self._remote: set[str] = set()  # relpaths known to be in S3
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.last_error: str | None = None  # of the last periodic sync that failed
        self._thread: threading.Thread | None = None
        self.uploads = 0
        self.deletes = 0

    def seed(self) -> int:
        """Download every checkpoint object into the (empty) folder; returns the count."""
        objects = list(s3.list_objects(self._client, self.url))
        try:
            planned = plan_prefix("checkpoints", self.url, objects)
        except ChannelError as exc:
            raise ChannelError(str(exc).replace("channel 'checkpoints'",
                                                f"CheckpointConfig.S3Uri {self.url}")) from None
        downloads = [s3.Download(p.bucket, p.key, p.size or 0, self.folder / p.relpath)
                     for p in planned]
        s3.transfer(self._client, downloads=downloads)
        with self._lock:
            self._remote = {p.relpath for p in planned}
            self._local = snapshot(self.folder)
        return len(planned)

    def adopt_remote(self) -> None:
        """A resumed job: take S3's listing as what was synced (every local file is then
        uploaded once, and what was deleted meanwhile is deleted). With ``shared`` (several
        hosts, one URI) an object this host has no file for may be another host's: only the
        objects it still has are taken as its own, so it never deletes another host's files
        (one it deleted while smlocal was away stays in S3)."""
        objects = s3.list_objects(self._client, self.url)
        with self._lock:
            remote = {o.key[len(self.url.key):] for o in objects}
            self._local = {}
            self._remote = remote & set(snapshot(self.folder)) if self.shared else remote

    def sync(self, final: bool = False) -> None:
        """Make S3 mirror the folder. Errors raise on the final sync; before, they are
        reported and the next sync tries again."""
        with self._lock:
            now = snapshot(self.folder)
            changed = sorted(rel for rel, st in now.items() if self._local.get(rel) != st)
            gone = sorted(rel for rel in self._remote if rel not in now)
            try:
                for rel in self._upload(changed):  # skipped: not synced yet
                    now.pop(rel, None)
                if gone:
                    s3.delete_objects(self._client, self.url.bucket,
                                      [self.url.key + rel for rel in gone])
            except (AwsError, OSError) as exc:
                if final:
                    raise AwsError(f"checkpoint sync to {self.url}: {exc}") from None
                if self._on_error is not None:
                    self._on_error(f"checkpoint sync to {self.url} (will retry): {exc}")
                return
            self.uploads += len([rel for rel in changed if rel in now])
            self.deletes += len(gone)
            self._local = now
            self._remote = set(now)

    def _upload(self, relpaths: list[str]) -> list[str]:
        """Upload ``relpaths``; returns those skipped (gone, or no longer regular files)."""
        skipped = []
        with ExitStack() as stack:
            uploads = []
            for rel in relpaths:
                try:
                    fh = stack.enter_context(open_no_follow(self.folder, rel))
                except OSError:
                    skipped.append(rel)  # gone or replaced since the snapshot
                    continue
                uploads.append(s3.Upload(fh, self.url.bucket, self.url.key + rel))
            s3.transfer(self._client, uploads=uploads)
        return skipped

    def start(self, interval: float | None = None) -> None:
        """Sync every ``interval`` seconds (default DEFAULT_INTERVAL) until ``stop``."""
        every = DEFAULT_INTERVAL if interval is None else interval

        def loop() -> None:
            while not self._stop.wait(every):
                try:
                    self.sync()
                except Exception as exc:  # tried again next time; the final sync raises it
                    self.last_error = f"{type(exc).__name__}: {exc}"

        self._thread = threading.Thread(target=loop, name="checkpoint-sync", daemon=True)
        self._thread.start()

    def stop(self, final_sync: bool = True) -> None:
        """Stop the periodic sync and sync once more (errors raise)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if final_sync:
            self.sync(final=True)
