"""Tests for runner.training.pipes: FIFOs per epoch, fed while a reader reads them (real FIFOs, a
thread as the container)."""

from __future__ import annotations

import gzip
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.engines.local_workspace import LocalWorkspace
from runner.training.pipes import RECORDIO_MAGIC, PipeFeeder, fifo_relpath, gunzip, recordio


def workspace(tmp_path: Path) -> LocalWorkspace:
    return LocalWorkspace(tmp_path / "ws", None)  # type: ignore[arg-type]


def wait_for(path: Path, timeout: float = 5.0) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def read_fifo(path: Path, limit: int = -1) -> bytes:
    wait_for(path)
    with open(path, "rb") as fh:
        return fh.read(limit) if limit >= 0 else fh.read()


def objects(*blobs: bytes) -> list:  # type: ignore[type-arg]
    return [lambda b=b: iter([b[: len(b) // 2], b[len(b) // 2:]]) for b in blobs]


@pytest.fixture
def feeders() -> Iterator[list[PipeFeeder]]:
    started: list[PipeFeeder] = []
    yield started
    for f in started:
        f.stop()


def test_a_fifo_per_epoch(tmp_path: Path, feeders: list[PipeFeeder]) -> None:
    ws = workspace(tmp_path)
    feeder = PipeFeeder(ws, "train", objects(b"alpha-", b"beta"))
    feeder.prepare()
    first = ws.root / fifo_relpath("train", 0)
    assert first.exists() and not (ws.root / fifo_relpath("train", 1)).exists()
    feeder.start()
    feeders.append(feeder)
    for epoch in range(3):
        assert read_fifo(ws.root / fifo_relpath("train", epoch)) == b"alpha-beta"
    wait_for(ws.root / fifo_relpath("train", 3))  # the next one waits for its reader
    assert feeder.epochs_fed == 3
    assert oct(os.stat(first).st_mode & 0o777) == oct(0o644)


def test_reader_closing_early_moves_on(tmp_path: Path, feeders: list[PipeFeeder]) -> None:
    ws = workspace(tmp_path)
    big = b"x" * (4 * 1024 * 1024)  # more than a pipe buffer holds
    feeder = PipeFeeder(ws, "train", objects(big))
    feeder.prepare()
    feeder.start()
    feeders.append(feeder)
    assert read_fifo(ws.root / fifo_relpath("train", 0), limit=10) == b"x" * 10
    assert read_fifo(ws.root / fifo_relpath("train", 1)) == big


def test_gzip_objects_are_decompressed(tmp_path: Path, feeders: list[PipeFeeder]) -> None:
    ws = workspace(tmp_path)
    feeder = PipeFeeder(ws, "train", objects(gzip.compress(b"one\n"), gzip.compress(b"two\n")
                                             + gzip.compress(b"three\n")), gzip=True)
    feeder.prepare()
    feeder.start()
    feeders.append(feeder)
    assert read_fifo(ws.root / fifo_relpath("train", 0)) == b"one\ntwo\nthree\n"


def test_a_failing_object_reports_and_stops(tmp_path: Path, feeders: list[PipeFeeder]) -> None:
    ws = workspace(tmp_path)
    errors: list[str] = []

    def broken() -> Iterator[bytes]:
        yield b"part"
        raise RuntimeError("the object went away")

    feeder = PipeFeeder(ws, "train", [broken], on_error=errors.append)
    feeder.prepare()
    feeder.start()
    feeders.append(feeder)
    assert read_fifo(ws.root / fifo_relpath("train", 0)) == b"part"
    feeder.stop()
    assert errors == ["Pipe mode channel 'train', epoch 0: the object went away"]


def test_stop_while_no_reader_came(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    feeder = PipeFeeder(ws, "train", objects(b"never read"))
    feeder.prepare()
    feeder.start()
    time.sleep(0.1)
    started = time.time()
    feeder.stop()
    assert time.time() - started < 1.0
    assert feeder.epochs_fed == 0


def test_gunzip_rejects_truncated_data() -> None:
    data = gzip.compress(b"y" * 1000)
    assert b"".join(gunzip([data[:7], data[7:]])) == b"y" * 1000
    with pytest.raises(ValueError, match="truncated"):
        b"".join(gunzip([data[:-8]]))


def test_make_fifo_refuses_a_regular_file(tmp_path: Path) -> None:
    from runner.engines.base import BackendError

    ws = workspace(tmp_path)
    (ws.root / "input/data/train_0").write_text("not a fifo")
    with pytest.raises(BackendError, match="not a FIFO"):
        ws.make_fifo("input/data/train_0")
    stop = threading.Event()
    stop.set()
    ws.make_fifo("input/data/other_0")
    assert ws.open_fifo("input/data/other_0", stop) is None


def test_recordio_wraps_each_object(tmp_path: Path, feeders: list[PipeFeeder]) -> None:
    import struct

    ws = workspace(tmp_path)
    feeder = PipeFeeder(ws, "train", objects(b"abcde", b"wxyz"), record_io=True)
    feeder.prepare()
    feeder.start()
    feeders.append(feeder)
    data = read_fifo(ws.root / fifo_relpath("train", 0))
    assert (data == (struct.pack("<II", RECORDIO_MAGIC, 5) + b"abcde\0\0\0"
                     + struct.pack("<II", RECORDIO_MAGIC, 4) + b"wxyz"))


def test_recordio_splits_huge_records(monkeypatch: pytest.MonkeyPatch) -> None:
    import struct

    import runner.training.pipes

    monkeypatch.setattr(runner.training.pipes, "RECORDIO_MAX_PART", 4)
    framed = b"".join(recordio(b"0123456789"))
    heads = [struct.unpack("<II", framed[i:i + 8]) for i in (0, 12, 24)]
    assert [(h >> 29, h & ((1 << 29) - 1)) for _, h in heads] == [(1, 4), (2, 4), (3, 2)]
    assert b"".join(recordio(b"")) == struct.pack("<II", RECORDIO_MAGIC, 0)
