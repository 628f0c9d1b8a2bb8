"""The engine's log stream undone by hand: chunked encoding, multiplexed frames and
timestamps, however the reads cut them (no Docker)."""

from __future__ import annotations

import random
import struct

import pytest

from runner.engines.docker.logs import Dechunker, FrameReader, TimeParser, parse_docker_time


def frame(kind: int, stamp: str, data: bytes) -> bytes:
    payload = stamp.encode() + b" " + data
    return struct.pack(">BxxxL", kind, len(payload)) + payload


def chunked(body: bytes, sizes: list[int]) -> bytes:
    out, at = b"", 0
    for size in sizes:
        piece = body[at:at + size]
        at += size
        if piece:
            out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\n\r\n"


@pytest.mark.parametrize("seed", range(5))
def test_frames_survive_any_cut_of_the_chunked_body(seed: int) -> None:
    rng = random.Random(seed)
    frames = [
        (1 + i % 2, f"2026-12-06T23:{i % 60:02d}:{i % 60:02d}.{i:09d}Z",
         f"line {i} {'é' * (i % 5)}\n".encode())
        for i in range(300)
    ]
    body = b"".join(frame(k, s, d) for k, s, d in frames)
    sizes = [rng.randint(1, 200) for _ in range(len(body))]
    raw = chunked(body, sizes)
    dechunker, reader, got = Dechunker(), FrameReader(), []
    at = 0
    while at < len(raw):
        step = rng.randint(1, 4000)
        got += reader.feed(dechunker.feed(raw[at:at + step]))
        at += step
    assert dechunker.done
    assert [(c.stream, c.ts, c.data) for c in got] == [
        ("stdout" if k == 1 else "stderr", parse_docker_time(s), d) for k, s, d in frames
    ]


@pytest.mark.parametrize("stamp", [
    "2026-12-06T23:59:59.123456789Z", "2026-12-06T23:59:59.1Z", "2026-12-06T00:00:00.000000001Z",
    "1970-01-01T00:00:00.5Z", "2026-12-06T23:59:59Z",
])
def test_the_cached_time_parser_gives_the_same_floats(stamp: str) -> None:
    parse = TimeParser()
    assert parse(stamp) == parse(stamp) == parse_docker_time(stamp)


def test_a_frame_without_a_timestamp_keeps_its_bytes() -> None:
    chunks = FrameReader().feed(frame(2, "not-a-time", b"x\n"))
    assert [(c.stream, c.ts, c.data) for c in chunks] == [("stderr", 0.0, b"not-a-time x\n")]
