"""Tests for runner.archives: archives that cannot escape, written or extracted."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from runner.archives import UnsafeArchive, safe_extract, write_tar_gz


def make_tar(path: Path, *members: tarfile.TarInfo, data: bytes = b"data") -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for m in members:
            if m.isreg():
                m.size = len(data)
                tar.addfile(m, io.BytesIO(data))
            else:
                tar.addfile(m)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def test_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "weights.bin").write_bytes(b"w")
    (src / "sub" / "cfg.json").write_text("{}")
    os.symlink("weights.bin", src / "latest")
    write_tar_gz(src, tmp_path / "out" / "model.tar.gz")
    names = safe_extract(tmp_path / "out" / "model.tar.gz", tmp_path / "x")
    assert sorted(names) == ["latest", "sub", "sub/cfg.json", "weights.bin"]
    assert (tmp_path / "x" / "sub" / "cfg.json").read_text() == "{}"
    assert os.readlink(tmp_path / "x" / "latest") == "weights.bin"


def test_writing_never_follows_symlinks(tmp_path: Path) -> None:
    secret = tmp_path / "host-secret"
    secret.write_text("do not pack me")
    src = tmp_path / "model"
    src.mkdir()
    os.symlink(secret, src / "leak")
    write_tar_gz(src, tmp_path / "m.tar.gz")
    with tarfile.open(tmp_path / "m.tar.gz") as tar:
        (leak,) = tar.getmembers()
        assert leak.issym() and leak.size == 0
    # and an empty or missing folder gives an empty archive
    write_tar_gz(tmp_path / "missing", tmp_path / "empty.tar.gz")
    with tarfile.open(tmp_path / "empty.tar.gz") as tar:
        assert tar.getmembers() == []


@pytest.mark.parametrize(("bad", "why"), [
    (member("../escape.txt"), "'..'"),
    (member("ok/../../escape.txt"), "'..'"),
    (member("/etc/cron.d/evil"), "absolute"),
    (member("link", tarfile.SYMTYPE, "/etc/passwd"), "absolute"),
    (member("sub/link", tarfile.SYMTYPE, "../../outside"), "outside the folder"),
    (member("hard", tarfile.LNKTYPE, "../outside"), "outside the folder"),
    (member("dev", tarfile.CHRTYPE), "device"),
    (member("fifo", tarfile.FIFOTYPE), "device or FIFO"),
])
def test_hostile_members_write_nothing(tmp_path: Path, bad: tarfile.TarInfo, why: str) -> None:
    archive = make_tar(tmp_path / "evil.tar.gz", member("innocent.txt"), bad)
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchive, match=why):
        safe_extract(archive, dest)
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "outside").exists()


def test_symlink_inside_the_folder_is_fine(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "ok.tar.gz", member("a/data.txt"), member("a/link", tarfile.SYMTYPE, "data.txt"))
    safe_extract(archive, tmp_path / "dest")
    assert (tmp_path / "dest" / "a" / "link").read_bytes() == b"data"
