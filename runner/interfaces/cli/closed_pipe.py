"""A reader that goes away: ``smlocal logs NAME | head`` is normal on the command line.

Python ignores SIGPIPE and raises BrokenPipeError on the write instead; the command then
ends quietly (``runner.interfaces.cli.main.main``), and what is still buffered must go nowhere
rather than raise again at the interpreter's exit.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO


def discard_output(*streams: TextIO) -> None:
    """Point ``streams``, and a standard stream that writes to the same pipe, at /dev/null,
    so that what is still buffered goes there at exit instead of raising again (the recipe
    of Python's "Note on SIGPIPE")."""
    fds = {fd for fd in map(_fileno, streams) if fd is not None}
    for fd in {fd for fd in map(_fileno, (sys.stdout, sys.stderr)) if fd is not None} - fds:
        if any(_same_file(fd, broken) for broken in fds):
            fds.add(fd)
    if not fds:
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in fds:
            os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _fileno(stream: TextIO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (captured), or closed
        return None


def _same_file(a: int, b: int) -> bool:
    try:
        return os.path.samestat(os.fstat(a), os.fstat(b))
    except OSError:
        return False
