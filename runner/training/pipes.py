"""Pipe mode: a channel's objects streamed through FIFOs while the container reads them.

As SageMaker does: ``/opt/ml/input/data/<channel>_0`` exists when the container starts; the
runner writes every object of the channel into it, in key order, and closes it (the reader
sees end of file); then ``<channel>_1`` appears for the next epoch, and so on for as long as
the container keeps reading. A reader that closes an epoch early just moves on to the next.
``CompressionType: Gzip`` objects are decompressed on the way; ``RecordWrapperType: RecordIO``
wraps each object in one RecordIO record (MXNet's framing, as the service does). The FIFOs'
folder is the container's: the workspace makes and opens them without following links, and
a link or file put in a FIFO's place fails the job, as does an object that cannot be read
(a ``file://`` channel's files are read without following links: ``runner.core.safe_files``).
"""

from __future__ import annotations

import struct
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO, Protocol

#: Streams one object's bytes, afresh on each call (one call per epoch).
PipeObject = Callable[[], Iterable[bytes]]


class FifoWorkspace(Protocol):
    def make_fifo(self, relpath: str) -> None: ...

    def open_fifo(self, relpath: str, stop: threading.Event) -> BinaryIO | None: ...


def fifo_relpath(channel: str, epoch: int) -> str:
    return f"input/data/{channel}_{epoch}"


RECORDIO_MAGIC = 0xCED7230A
RECORDIO_MAX_PART = (1 << 29) - 1


def recordio(data: bytes) -> Iterator[bytes]:
    """One RecordIO record holding ``data``: magic, ``cflag << 29 | length``, the bytes,
    zero padding to 4 bytes; data over 2**29 - 1 bytes is split in parts (cflag 1, 2, 3)."""
    parts = [data[i:i + RECORDIO_MAX_PART] for i in range(0, len(data), RECORDIO_MAX_PART)] or [b""]
    for i, part in enumerate(parts):
        cflag = 0 if len(parts) == 1 else 1 if i == 0 else 3 if i == len(parts) - 1 else 2
        yield struct.pack("<II", RECORDIO_MAGIC, cflag << 29 | len(part))
        yield part
        if len(part) % 4:
            yield b"\0" * (4 - len(part) % 4)


def gunzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Decompress a gzip stream (several concatenated members too) chunk by chunk."""
    decoder = zlib.decompressobj(wbits=31)
    started = False
    for chunk in chunks:
        while chunk:
            started = True
            out = decoder.decompress(chunk)
            if out:
                yield out
            if decoder.eof:
                chunk = decoder.unused_data
                decoder = zlib.decompressobj(wbits=31)
                started = False
            else:
                chunk = b""
    tail = decoder.flush()
    if tail:
        yield tail
    if started and not decoder.eof:
        raise ValueError("truncated gzip data")


class PipeFeeder:
    """Feeds one channel's FIFOs from a thread, epoch after epoch, until stopped."""

    def __init__(
        self,
        workspace: FifoWorkspace,
        channel: str,
        objects: Sequence[PipeObject] | Callable[[int], Sequence[PipeObject]],
        gzip: bool = False,
        record_io: bool = False,
        first_epoch: int = 0,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._workspace = workspace
        self.channel = channel
        self._objects = objects  # or, per epoch, a function of the epoch (ShuffleConfig)
        self._gzip = gzip
        self._record_io = record_io
        self.epoch = first_epoch  # the epoch being fed (or waited on)
        self.epochs_fed = 0
        self.bytes_fed = 0
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def prepare(self) -> None:
        """Create the first FIFO (before the container starts)."""
        self._workspace.make_fifo(fifo_relpath(self.channel, self.epoch))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"pipe-{self.channel}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            relpath = fifo_relpath(self.channel, self.epoch)
            try:  # the folder is the container's: what it put in the FIFO's place fails the job
                self._workspace.make_fifo(relpath)
                fifo = self._workspace.open_fifo(relpath, self._stop)
            except Exception as exc:
                self._fail(exc)
                return
            if fifo is None:
                return
            try:
                self._feed(fifo)
            except BrokenPipeError:
                pass  # the reader closed the epoch early: on to the next one
            except Exception as exc:
                self._fail(exc)
                return
            finally:
                try:
                    fifo.close()
                except OSError:
                    pass
            self.epochs_fed += 1
            self.epoch += 1

    def _fail(self, exc: Exception) -> None:
        if self._on_error is not None:
            self._on_error(f"Pipe mode channel {self.channel!r}, epoch {self.epoch}: {exc}")

    def _feed(self, fifo: BinaryIO) -> None:
        objects = self._objects(self.epoch) if callable(self._objects) else self._objects
        for obj in objects:
            chunks: Iterable[bytes] = obj()
            if self._gzip:
                chunks = gunzip(chunks)
            if self._record_io:  # the length comes first: the object is read whole
                chunks = recordio(b"".join(chunks))
            for chunk in chunks:
                if self._stop.is_set():
                    return
                fifo.write(chunk)
                self.bytes_fed += len(chunk)
