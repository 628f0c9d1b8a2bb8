"""Tests for runner.core.safe_files and the workspace's use of it: a folder with links of every kind
planted in it is read, linked, copied and fed without ever following a link or blocking."""

from __future__ import annotations

import errno
import os
import stat
import tarfile
import threading
from pathlib import Path

import pytest

from runner.core import archives, safe_files
from runner.core.safe_files import UnsafeFile, link_or_copy, make_dirs, open_no_follow, scan
from runner.engines.base import BackendError, WorkspaceEscape
from runner.engines.local_workspace import LocalWorkspace
from runner.training.pipes import PipeFeeder
from tests.unit.planted import SECRET, Planted, in_time, plant, tree
from tests.unit.training.test_pipes import read_fifo


@pytest.fixture
def planted(tmp_path: Path) -> Planted:
    return plant(tmp_path / "user" / "data", tmp_path / "host")


def test_scan_lists_regular_files_only_and_names_the_rest(planted: Planted) -> None:
    found = in_time(lambda: scan(planted.folder))
    assert found.files == {name: name for name in sorted(planted.regular)}
    assert sorted(rel for rel, _ in found.skipped) == planted.hostile
    kinds = dict(found.skipped)
    assert kinds["abs-link"] == kinds["dir-link"] == kinds["loop"] == "a symbolic link"
    assert kinds["fifo"] == "a FIFO"
    if "zero" in kinds:
        assert kinds["zero"] == "a device"


def test_scan_of_a_named_file_and_of_what_is_neither(planted: Planted) -> None:
    found = scan(planted.folder / "a.csv")
    assert found.named_file and found.files == {"a.csv": "a.csv"} and found.root == planted.folder
    with pytest.raises(UnsafeFile, match="a FIFO"):
        in_time(lambda: scan(planted.folder / "fifo"))
    with pytest.raises(FileNotFoundError):
        scan(planted.folder / "nothing-here")


def test_key_order_is_the_string_order_s3_lists_in(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b").write_text("x")
    (tmp_path / "a-c").write_text("y")
    assert list(scan(tmp_path).files) == ["a-c", "a/b"]


def test_nothing_planted_is_ever_opened(planted: Planted) -> None:
    for rel in planted.hostile:
        with pytest.raises(OSError):
            in_time(lambda rel=rel: open_no_follow(planted.folder, rel))
    for through in ("dir-link/inner.txt", "sub/self/b.csv", "sub/rel-dir-link/inner.txt"):
        with pytest.raises(UnsafeFile, match="links are never followed"):
            open_no_follow(planted.folder, through)
    with pytest.raises(UnsafeFile):
        open_no_follow(planted.folder, "sub/../../host/secret.txt")
    with open_no_follow(planted.folder, "sub/b.csv") as fh:
        assert fh.read() == planted.regular["sub/b.csv"]


@pytest.mark.parametrize("copy", [False, True], ids=["hard-link", "copy"])
def test_link_or_copy_places_regular_files_and_refuses_the_rest(
    planted: Planted,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    copy: bool,
) -> None:
    if copy:  # as across file systems

        def no_link(*args: object, **kwargs: object) -> None:
            raise OSError(errno.EXDEV, "Invalid cross-device link")

        monkeypatch.setattr(safe_files.os, "link", no_link)
    dest = tmp_path / "dest"
    dest.mkdir()
    link_or_copy(planted.folder, "sub/b.csv", dest / "b.csv")
    assert (dest / "b.csv").read_bytes() == planted.regular["sub/b.csv"]
    assert (
        os.stat(dest / "b.csv").st_ino == os.stat(planted.folder / "sub" / "b.csv").st_ino
    ) is not copy
    for rel in planted.hostile:
        with pytest.raises(OSError):
            in_time(lambda rel=rel: link_or_copy(planted.folder, rel, dest / "x"))
        assert not os.path.lexists(dest / "x"), rel  # nothing left behind, not even the link
    assert SECRET not in "".join(p.read_text() for p in dest.iterdir())


def test_make_dirs_never_enters_a_link(tmp_path: Path) -> None:
    base = tmp_path / "out"
    base.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, base / "job")
    with pytest.raises(UnsafeFile):
        make_dirs(base, ["job", "output"])
    assert list(elsewhere.iterdir()) == []
    fd = make_dirs(base, ["other", "output"])
    os.close(fd)
    assert (base / "other" / "output").is_dir()


# -- the workspace: folders the container writes ------------------------------------------------


def workspace(tmp_path: Path) -> LocalWorkspace:
    return LocalWorkspace(tmp_path / "ws", None)  # type: ignore[arg-type]


def test_failure_file_that_is_a_link_fifo_or_device_is_not_read(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    failure = ws.root / "output" / "failure"
    os.symlink(secret, failure)
    with pytest.raises(WorkspaceEscape):  # out of the workspace: the algorithm's doing
        ws.read_text("output/failure", 100)
    failure.unlink()
    (ws.root / "model" / "m.txt").write_text("inside")
    os.symlink("../model/m.txt", failure)  # a link that stays inside: not followed either
    assert ws.read_text("output/failure", 100) is None
    failure.unlink()
    os.mkfifo(failure)
    assert in_time(lambda: ws.read_text("output/failure", 100)) is None
    failure.unlink()
    if os.getuid() == 0:
        os.mknod(failure, 0o666 | stat.S_IFCHR, os.makedev(1, 5))
        assert in_time(lambda: ws.read_text("output/failure", 100)) is None
        failure.unlink()
    (ws.root / "output").rename(ws.root / "output-real")
    os.symlink(secret.parent, ws.root / "output")  # a folder on the way swapped for a link
    (secret.parent / "failure").write_text(SECRET)
    with pytest.raises(WorkspaceEscape):
        ws.read_text("output/failure", 100)


def test_fifos_are_never_made_or_opened_through_a_link(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    secret.chmod(0o600)
    os.symlink(secret, ws.root / "input" / "data" / "train_0")
    with pytest.raises(BackendError, match="not a FIFO"):
        ws.make_fifo("input/data/train_0")
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600  # never chmod-ed through the link
    with pytest.raises(BackendError, match="not a FIFO"):
        ws.open_fifo("input/data/train_0", threading.Event())
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    (ws.root / "input" / "data").rename(ws.root / "input" / "data-real")
    os.symlink(host_dir, ws.root / "input" / "data")
    with pytest.raises(BackendError, match="links are never followed"):
        ws.make_fifo("input/data/train_1")
    assert list(host_dir.iterdir()) == []


def test_fifo_is_made_readable_whatever_the_umask(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    old = os.umask(0o077)
    try:
        ws.make_fifo("input/data/train_0")
    finally:
        os.umask(old)
    mode = os.lstat(ws.root / "input" / "data" / "train_0").st_mode
    assert stat.S_ISFIFO(mode) and stat.S_IMODE(mode) == 0o644
    ws.make_fifo("input/data/train_0")  # there already: fine


def test_channel_files_from_a_users_folder_never_follow_links(
    planted: Planted, tmp_path: Path
) -> None:
    ws = workspace(tmp_path)
    pairs = [(rel, planted.folder / rel) for rel in planted.regular]
    ws.add_channel_files("train", pairs, root=planted.folder)
    staged = ws.root / "input" / "data" / "train"
    assert tree(staged) == {"a.csv": "file", "sub": "dir", "sub/b.csv": "file"}
    for hostile in ("abs-link", "fifo", "sub/climbing-link"):
        with pytest.raises(BackendError, match="train"):
            in_time(
                lambda h=hostile: ws.add_channel_files(
                    "train", [(h, planted.folder / h)], root=planted.folder
                )
            )
        assert not any(kind == "link" for kind in tree(staged).values())


def test_a_link_put_in_the_next_fifos_place_fails_the_feed_without_touching_its_target(
    tmp_path: Path,
) -> None:
    ws = workspace(tmp_path)
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    secret.chmod(0o600)
    os.symlink(secret, ws.root / "input" / "data" / "train_1")  # the container, during epoch 0
    errors: list[str] = []
    feeder = PipeFeeder(ws, "train", [lambda: iter([b"data"])], on_error=errors.append)
    feeder.prepare()
    feeder.start()
    try:
        assert in_time(lambda: read_fifo(ws.root / "input" / "data" / "train_0")) == b"data"
        in_time(lambda: feeder._thread.join(5) if feeder._thread else None)
    finally:
        feeder.stop()
    assert errors == [
        "Pipe mode channel 'train', epoch 1: input/data/train_1 exists and is not a FIFO"
    ]
    assert secret.read_text() == SECRET and stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_folders_nested_too_deep_are_left_out_not_a_crash(tmp_path: Path) -> None:
    deep = tmp_path / "data" / "/".join(["d"] * (safe_files.MAX_DEPTH + 20))
    deep.mkdir(parents=True)
    (deep / "bottom.csv").write_text("deep")
    (tmp_path / "data" / "top.csv").write_text("top")
    found = scan(tmp_path / "data")
    assert list(found.files) == ["top.csv"]
    ((rel, why),) = found.skipped
    assert rel.count("/") == safe_files.MAX_DEPTH and "nested" in why
    archives.write_tar_gz(tmp_path / "data", tmp_path / "deep.tar.gz")
    with tarfile.open(tmp_path / "deep.tar.gz") as tar:
        assert "top.csv" in tar.getnames() and not any(
            n.endswith("bottom.csv") for n in tar.getnames()
        )
