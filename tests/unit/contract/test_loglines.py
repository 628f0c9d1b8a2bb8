"""Tests for runner.contract.loglines: a log stream's byte chunks into lines."""

from __future__ import annotations

import pytest

from runner.contract.loglines import LineSplitter


def split_all(chunks: list[bytes], max_line: int = 256 * 1024) -> list[str]:
    splitter = LineSplitter(max_line)
    lines: list[str] = []
    for chunk in chunks:
        lines.extend(splitter.feed(chunk))
    return lines + splitter.flush()


def test_splitter_chunks_split_lines() -> None:
    assert split_all([b"he", b"llo\nwor", b"ld\n", b"", b"tail"]) == ["hello", "world", "tail"]
    assert split_all([b"a\n\nb\n"]) == ["a", "", "b"]
    assert split_all([b""]) == []


def test_splitter_line_ends() -> None:
    assert split_all([b"a\r\nb\rc\nd"]) == ["a", "b", "c", "d"]
    assert split_all([b"10%\r20%\r100%\r\n", b"done\n"]) == ["10%", "20%", "100%", "done"]
    # "\r\n" split over two chunks is one line end; a lone "\r" then "x" is not.
    assert split_all([b"a\r", b"\nb\r", b"x\n"]) == ["a", "b", "x"]
    assert split_all([b"a\r", b"", b"\n"]) == ["a"]
    assert split_all([b"a\r", b"\n\n"]) == ["a", ""]


def test_splitter_multibyte_across_chunks() -> None:
    data = "päivää → 日本語 🎉\nsecond ✓\n".encode()
    for size in (1, 2, 3, 5):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        assert split_all(chunks) == ["päivää → 日本語 🎉", "second ✓"]


def test_splitter_invalid_utf8_replaced() -> None:
    assert split_all([b"bad \xff byte\n", b"cut \xe2\x82"]) == ["bad \ufffd byte", "cut \ufffd"]


def test_splitter_long_lines_cut_into_pieces() -> None:
    splitter = LineSplitter(max_line=8)
    assert splitter.feed(b"0123456789abcdefXYZ") == ["01234567", "89abcdef"]
    assert splitter.feed(b"\nshort\n") == ["XYZ", "short"]
    assert splitter.feed(b"12345678\n") == ["12345678"]  # exactly max_line: one line
    assert splitter.feed(b"1234567") == []
    assert splitter.feed(b"8") == []
    assert splitter.feed(b"\n") == ["12345678"]
    assert splitter.flush() == []


def test_splitter_long_line_never_cuts_a_character() -> None:
    text = "ab" + "日" * 10  # 3-byte characters
    lines = split_all([text.encode() + b"\n"], max_line=8)
    assert "".join(lines) == text
    assert all("\ufffd" not in line and len(line.encode()) <= 8 for line in lines)
    chunks = [bytes([b]) for b in (text * 3).encode()]
    lines = split_all(chunks, max_line=8)
    assert "".join(lines) == text * 3 and all("\ufffd" not in line for line in lines)


def test_splitter_keeps_memory_bounded() -> None:
    splitter = LineSplitter(max_line=1024)
    pieces = 0
    for _ in range(1000):
        pieces += len(splitter.feed(b"x" * 700))
        assert len(splitter._buffer) <= 1024
    assert pieces == 700 * 1000 // 1024
    assert len(splitter.flush()[0]) == 700 * 1000 % 1024


def test_splitter_rejects_tiny_max_line() -> None:
    with pytest.raises(ValueError):
        LineSplitter(max_line=3)


