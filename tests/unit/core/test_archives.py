"""Tests for runner.core.archives: archives that cannot escape, written or extracted."""

from __future__ import annotations

import errno
import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest

from runner.core import archives
from runner.core.archives import UnsafeArchive, safe_extract, write_tar_gz
from tests.unit.planted import SECRET, in_time, plant


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
    archive = make_tar(tmp_path / "ok.tar.gz", member("a/data.txt"),
                       member("a/link", tarfile.SYMTYPE, "data.txt"))
    safe_extract(archive, tmp_path / "dest")
    assert (tmp_path / "dest" / "a" / "link").read_bytes() == b"data"


def test_planted_links_fifos_and_devices_are_never_read_into_an_archive(tmp_path: Path) -> None:
    planted = plant(tmp_path / "model", tmp_path / "host")
    in_time(lambda: write_tar_gz(planted.folder, tmp_path / "m.tar.gz"))
    with tarfile.open(tmp_path / "m.tar.gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        for name, body in planted.regular.items():
            fh = tar.extractfile(members[name])
            assert fh is not None and fh.read() == body
        assert "fifo" not in members and "zero" not in members  # no content to archive
        links = {n for n, m in members.items() if m.issym()}
        assert links == {n for n in planted.hostile if n not in ("fifo", "zero")}
        assert all(m.size == 0 for n, m in members.items() if n not in planted.regular)
    assert SECRET.encode() not in gzip.decompress((tmp_path / "m.tar.gz").read_bytes())


def test_a_failed_write_leaves_no_temporary_file_and_the_old_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    src = tmp_path / "model"
    src.mkdir()
    (src / "w.bin").write_bytes(os.urandom(1 << 16))
    dest = tmp_path / "out" / "model.tar.gz"
    write_tar_gz(src, dest)
    before = dest.read_bytes()

    def full_disk(tar: tarfile.TarFile, source: Path) -> None:
        tar.addfile(tarfile.TarInfo("partial"))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(archives, "_add_folder", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_tar_gz(src, dest)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model.tar.gz"]
    assert dest.read_bytes() == before


def test_a_link_planted_where_the_archive_goes_is_never_written_through(tmp_path: Path) -> None:
    src = tmp_path / "model"
    src.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    out = tmp_path / "out" / "job" / "output"
    out.mkdir(parents=True)
    os.symlink(victim, out / "model.tar.gz.tmp")
    os.symlink(victim, out / "model.tar.gz")
    write_tar_gz(src, out / "model.tar.gz", within=tmp_path / "out")
    assert victim.read_text() == "keep me"
    assert not (out / "model.tar.gz").is_symlink() and tarfile.is_tarfile(out / "model.tar.gz")
    os.symlink(tmp_path, tmp_path / "out" / "job2")
    with pytest.raises(OSError, match="links are never followed"):
        write_tar_gz(src, tmp_path / "out" / "job2" / "output" / "model.tar.gz",
                     within=tmp_path / "out")
    assert not (tmp_path / "output").exists()
