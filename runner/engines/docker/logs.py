"""A container's log stream, read in batches straight off the engine's HTTP response.

docker-py's ``logs(stream=True)`` yields one frame (one line, as the json-file driver stores
them) per two reads of the response: about 35,000 lines a second, slower than a chatty
container writes.  Here each read takes whatever the socket holds (up to READ_BYTES), undoes
HTTP's chunked encoding and Docker's stream multiplexing for every frame in it, and yields
them as one list: a flood arrives in batches of hundreds of lines, a quiet stream line by line
as it comes.  Timestamps are read with the second's part cached.

Where docker-py's private parts this leans on are missing (another version, a TTY stream,
a transport without a raw socket), the frames come from docker-py's public iterator instead.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from runner.engines.base import LogChunk

READ_BYTES = 256 * 1024
_HEADER = struct.Struct(">BxxxL")
_STREAMS = {1: "stdout", 2: "stderr"}


def parse_docker_time(stamp: str) -> float:
    """Docker's RFC 3339 timestamps carry nanoseconds; Python reads microseconds."""
    stamp = stamp.rstrip("Z")
    if "." in stamp:
        head, frac = stamp.split(".", 1)
        stamp = f"{head}.{frac[:6]}"
    return datetime.fromisoformat(stamp + "+00:00").timestamp()


class TimeParser:
    """:func:`parse_docker_time`, with each second's part parsed once (the same floats)."""

    def __init__(self) -> None:
        self._seconds: dict[str, int] = {}

    def __call__(self, stamp: str) -> float:
        if len(stamp) < 21 or stamp[19] != "." or stamp[-1] != "Z":
            return parse_docker_time(stamp)
        head = stamp[:19]
        base = self._seconds.get(head)
        if base is None:
            if len(self._seconds) > 1000:
                self._seconds.clear()
            base = self._seconds[head] = int(datetime.fromisoformat(head + "+00:00").timestamp())
        micros = stamp[20:-1][:6]
        if not micros.isdigit():
            return parse_docker_time(stamp)
        return (base * 1_000_000 + int(micros.ljust(6, "0"))) / 1_000_000

    def split(self, frame: bytes) -> tuple[float, bytes]:
        """A frame ``<timestamp> <bytes>`` as (its time, its bytes); (0, the whole frame) when
        it starts with no timestamp."""
        head, _, rest = frame.partition(b" ")
        try:
            return self(head.decode("ascii")), rest
        except (ValueError, UnicodeDecodeError):
            return 0.0, frame


class FrameReader:
    """Docker's multiplexed frames (8-byte header, then the payload ``<timestamp> <bytes>``)
    from the bytes of a response, however the reads cut them."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._time = TimeParser()

    def feed(self, data: bytes) -> list[LogChunk]:
        buffer = self._buffer
        buffer += data
        chunks: list[LogChunk] = []
        size = len(buffer)
        at = 0
        while at + 8 <= size:
            kind, length = _HEADER.unpack_from(buffer, at)
            end = at + 8 + length
            if end > size:
                break
            frame = bytes(buffer[at + 8:end])
            at = end
            chunks.append(LogChunk(_STREAMS.get(kind, "stdout"), *self._time.split(frame)))
        del buffer[:at]
        return chunks


class Dechunker:
    """The body of an HTTP/1.1 response in chunked encoding, from its raw bytes."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._left = 0  # bytes of the current chunk still to come
        self._trailer = 0  # its CRLF still to skip
        self.done = False

    def feed(self, data: bytes) -> bytes:
        buffer = self._buffer
        buffer += data
        out = bytearray()
        at = 0
        size = len(buffer)
        while at < size and not self.done:
            if self._left:
                take = min(self._left, size - at)
                out += buffer[at:at + take]
                at += take
                self._left -= take
                if self._left == 0:
                    self._trailer = 2
                continue
            if self._trailer:
                skip = min(self._trailer, size - at)
                at += skip
                self._trailer -= skip
                continue
            line_end = buffer.find(b"\r\n", at)
            if line_end < 0:
                break
            length = int(bytes(buffer[at:line_end]).split(b";", 1)[0] or b"0", 16)
            at = line_end + 2
            if length == 0:
                self.done = True
            self._left = length
        del buffer[:at]
        return bytes(out)


def read_log_batches(
    api: Any, container_id: str, stream: str, since: float | None, follow: bool
) -> Iterator[list[LogChunk]]:
    """The frames of one stream of a container's log, one list per read of the response.
    Raises what docker-py raises when the engine refuses (``docker.errors.APIError``)."""
    params: dict[str, Any] = {
        "stdout": int(stream == "stdout"), "stderr": int(stream == "stderr"),
        "timestamps": 1, "follow": int(follow), "tail": "all",
    }
    if since is not None and since > 0:  # as docker-py sends it
        params["since"] = since
    response = api._get(api._url("/containers/{0}/logs", container_id), params=params, stream=True)
    try:
        api._raise_for_status(response)
        raw = _raw_reader(api, response)
        if raw is None:
            response.close()
            yield from _public_frames(api, container_id, stream, since, follow)
            return
        reader, chunked = raw
        frames = FrameReader()
        dechunker = Dechunker() if chunked else None
        while True:
            data = reader.read1(READ_BYTES)
            if not data:
                break
            if dechunker is not None:
                data = dechunker.feed(data)
            batch = frames.feed(data)
            if batch:
                yield batch
            if dechunker is not None and dechunker.done:
                break
    finally:
        response.close()


def _raw_reader(api: Any, response: Any) -> tuple[Any, bool] | None:
    """The buffered reader under the response and whether its body is chunked, or None
    when this docker-py/urllib3 does not expose them (then the public iterator is used)."""
    try:
        http_response = response.raw._fp  # http.client.HTTPResponse, headers already read
        reader = http_response.fp
        chunked = bool(http_response.chunked)
        if not hasattr(reader, "read1") or http_response.chunk_left is not None:
            return None  # nothing to read1 from, or http.client already started on the body
        socket = api._get_raw_response_socket(response)
        api._disable_socket_timeout(socket)
    except AttributeError:
        return None
    return reader, chunked


def _public_frames(
    api: Any, container_id: str, stream: str, since: float | None, follow: bool
) -> Iterator[list[LogChunk]]:
    """docker-py's own iterator: a frame at a time."""
    times = TimeParser()
    frames = api.logs(container_id, stdout=stream == "stdout", stderr=stream == "stderr",
                      stream=True, follow=follow, timestamps=True, since=since)
    for frame in frames:
        yield [LogChunk(stream, *times.split(frame))]
