"""Log lines from the byte chunks of a container's output stream (pure): line ends of
every kind, UTF-8 split across chunks, and bounded memory whatever a line's length."""

from __future__ import annotations

import re

DEFAULT_MAX_LINE = 256 * 1024


_LINE_END = re.compile(rb"\r\n|\r|\n")


class LineSplitter:
    """Turns byte chunks of one log stream into complete decoded lines.

    ``\\n``, ``\\r\\n`` and a lone ``\\r`` (progress bars redrawing a line) each end a
    line; line ends are not part of the returned lines, and empty lines are kept.
    A ``\\r\\n`` split across two chunks is one line end.  Lines are decoded as UTF-8
    with ``errors="replace"``; a multi-byte character split across chunks decodes
    whole.  Memory stays bounded: a line longer than ``max_line`` bytes is returned in
    pieces of at most ``max_line`` bytes, cut before a UTF-8 character where possible.
    Use one splitter per stream (stdout and stderr apart).
    """

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        if max_line < 4:
            raise ValueError("max_line must be at least 4 bytes")
        self.max_line = max_line
        self._buffer = bytearray()
        self._skip_lf = False  # the last chunk ended with "\r": a leading "\n" is its pair

    def feed(self, chunk: bytes) -> list[str]:
        """Add a chunk; returns the lines it completed (possibly none)."""
        if not chunk:
            return []
        if (  # the common case: one whole line, as the engine's log driver stores them
            not self._buffer and not self._skip_lf and chunk[-1:] == b"\n"
            and chunk.find(b"\n") == len(chunk) - 1 and b"\r" not in chunk
            and len(chunk) <= self.max_line
        ):
            return [chunk[:-1].decode("utf-8", errors="replace")]
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        buffer = self._buffer
        scan_from = len(buffer)  # the kept remainder holds no line end
        buffer += chunk
        lines: list[str] = []
        start = 0
        for match in _LINE_END.finditer(buffer, scan_from):
            self._emit(bytes(buffer[start : match.start()]), lines)
            start = match.end()
        if start:
            self._skip_lf = buffer[start - 1] == 0x0D and start == len(buffer)
            del buffer[:start]
        while len(buffer) > self.max_line:
            cut = self._cut_point(buffer)
            lines.append(bytes(buffer[:cut]).decode("utf-8", errors="replace"))
            del buffer[:cut]
        return lines

    def flush(self) -> list[str]:
        """End of stream: the unterminated last line, if any (``[]`` or ``[line]``)."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        self._skip_lf = False
        return [rest.decode("utf-8", errors="replace")] if rest else []

    def _emit(self, data: bytes, lines: list[str]) -> None:
        while len(data) > self.max_line:
            cut = self._cut_point(data)
            lines.append(data[:cut].decode("utf-8", errors="replace"))
            data = data[cut:]
        lines.append(data.decode("utf-8", errors="replace"))

    def _cut_point(self, data: bytes | bytearray) -> int:
        """Where to cut a too long line: at ``max_line``, moved back off a UTF-8 continuation."""
        cut = self.max_line
        for back in range(4):
            if data[cut - back] & 0xC0 != 0x80:
                return cut - back
        return cut  # not UTF-8 here: cut anywhere
