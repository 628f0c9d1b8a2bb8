"""A folder with links of every kind planted in it, as a container could leave in its
checkpoint folder for a later job to use as a channel (shared by unit and integration tests)."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

SECRET = "HOST-SECRET-5d1f0c7e"  # in the host's files the links point at; never in a channel


@dataclass
class Planted:
    folder: Path
    secret: Path  # the host file the links point at
    regular: dict[str, bytes]  # the folder's regular files: the channel's data
    hostile: list[str] = field(default_factory=list)  # what must be left out

    def data(self) -> bytes:
        """The regular files' bytes, in key order."""
        return b"".join(self.regular[name] for name in sorted(self.regular))


def plant(folder: Path, outside: Path) -> Planted:
    """Two regular files (``a.csv``, ``sub/b.csv``) and, beside them, links to a host file
    (absolute, relative climbing out with ``../``), to a folder of the host's, to a file inside
    the folder, dangling, loops (one link, two links, a folder link to itself), FIFOs (one in the
    folder, a link to one outside) and, as root, a device node (``/dev/zero``'s: reading it
    never ends)."""
    outside.mkdir(parents=True, exist_ok=True)
    secret = outside / "secret.txt"
    secret.write_text(SECRET + "\n")
    secret_dir = outside / "secret-dir"
    secret_dir.mkdir(exist_ok=True)
    (secret_dir / "inner.txt").write_text(SECRET + " in a folder\n")
    host_fifo = outside / "host-fifo"
    if not host_fifo.exists():
        os.mkfifo(host_fifo)
    (folder / "sub").mkdir(parents=True)
    regular = {"a.csv": b"1,2,3\n", "sub/b.csv": b"4,5,6\n7,8,9\n"}
    for name, body in regular.items():
        (folder / name).write_bytes(body)
    links = {
        "abs-link": str(secret),
        "sub/climbing-link": os.path.relpath(secret, folder / "sub"),  # ../../..../secret.txt
        "deep-climb": "../" * 30 + str(secret).lstrip("/"),
        "dir-link": str(secret_dir),
        "sub/rel-dir-link": os.path.relpath(secret_dir, folder / "sub"),
        "inner-link": "a.csv",
        "dangling": str(outside / "missing"),
        "loop": "loop",
        "loop-a": "loop-b",
        "loop-b": "loop-a",
        "sub/self": ".",
        "fifo-link": str(host_fifo),
    }
    for name, target in links.items():
        os.symlink(target, folder / name)
    os.mkfifo(folder / "fifo")
    hostile = [*links, "fifo"]
    if os.getuid() == 0:
        os.mknod(folder / "zero", 0o666 | stat.S_IFCHR, os.makedev(1, 5))
        hostile.append("zero")
    return Planted(folder, secret, regular, sorted(hostile))


def in_time(fn: Callable[[], T], seconds: float = 10.0) -> T:
    """``fn()``'s result, failing the test when it takes longer than ``seconds`` (a FIFO or a
    device read would block or never end)."""
    out: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as exc:  # handed to the test
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s (blocked on a FIFO or device?)"
    if errors:
        raise errors[0]
    return out[0]


def tree(root: Path) -> dict[str, str]:
    """What is under ``root``, by kind: ``file``, ``dir``, ``link``, ``other`` (never followed)."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            full = Path(dirpath) / name
            mode = os.lstat(full).st_mode
            what = (
                "link"
                if stat.S_ISLNK(mode)
                else "dir"
                if stat.S_ISDIR(mode)
                else "file"
                if stat.S_ISREG(mode)
                else "other"
            )
            found[full.relative_to(root).as_posix()] = what
    return found
