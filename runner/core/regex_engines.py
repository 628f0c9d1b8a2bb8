"""Metric regexes searched in a bounded time per line, whatever the regex (pure).

A metric regex comes from the user (or from SDK code they copied); the lines it is searched
in come from the container.  A backtracking engine (Python's ``re``, the ``regex`` package,
Java's) can take exponential time on a regex such as ``(a|aa)+$`` and the line ``aaa...a!``,
so no backtracking search may run unbounded in the runner:

* every regex RE2 accepts (almost all metric regexes) is searched with RE2, through the
  ``google-re2`` binding: time linear in the line's length, whatever its shape;
* a regex RE2 refuses (backreferences, lookarounds, possessive quantifiers, ``\\Z``) is
  searched with the ``regex`` package (Java-like syntax) and a time limit on each search
  (:data:`SEARCH_TIMEOUT`); the caller drops it after a few slow lines.

Before an engine runs, a literal the regex requires (``loss=`` in ``loss=(\\S+)``) is looked
for with ``in``: most log lines lack it, and then no engine runs at all.  The literal is
found conservatively from the regex's parse tree (the top-level sequence only, no flags);
when in doubt there is none, and the engine decides.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Protocol

#: A backtracking search's longest run on one line (seconds).
SEARCH_TIMEOUT = 0.2


@functools.cache
def _re2() -> tuple[Any, Any, Any]:
    """google-re2's compiled-regex class, its options and the unanchored search mode
    (imported on first use: 25 ms that a job without metric definitions never pays)."""
    import re2
    from re2 import _re2 as binding

    options = re2.Options()
    options.log_errors = False  # a refused regex is reported to the user, not on stderr
    return binding.RE2, options, binding.RE2.Anchor.UNANCHORED


class CompileError(ValueError):
    """The regex does not compile in any engine; the message is the engine's reason."""


class MetricPattern(Protocol):
    """A compiled metric regex."""

    @property
    def pattern(self) -> str: ...

    @property
    def groups(self) -> int: ...

    @property
    def literal(self) -> str | None:
        """Text every match contains (see :func:`required_literal`), or None: a line without
        it need not be searched (the caller tests it, once for a line or a batch)."""
        ...

    @property
    def engine(self) -> str:
        """``"re2"`` or ``"regex"`` (backtracking, searched with a time limit)."""
        ...

    def capture(self, line: str) -> str | None:
        """The first group of the first match in ``line``: None when nothing matches, ``""``
        when the group took no part.  May raise TimeoutError (backtracking engine only)."""
        ...


@dataclass(frozen=True)
class Re2Pattern:
    """A regex searched with RE2 (linear time)."""

    pattern: str
    groups: int
    literal: str | None
    _compiled: Any
    _unanchored: Any

    engine = "re2"

    def capture(self, line: str) -> str | None:
        data = line.encode("utf-8", "replace")
        spans = self._compiled.Match(self._unanchored, data, 0, len(data))
        if spans[0][0] < 0:
            return None
        start, end = spans[1]
        return "" if start < 0 else data[start:end].decode("utf-8", "replace")


@dataclass(frozen=True)
class BacktrackingPattern:
    """A regex RE2 refuses, searched with the ``regex`` package and a time limit."""

    pattern: str
    groups: int
    literal: str | None
    _compiled: Any
    timeout: float = SEARCH_TIMEOUT

    engine = "regex"

    def capture(self, line: str) -> str | None:
        match = self._compiled.search(line, timeout=self.timeout)
        if match is None:
            return None
        captured = match.group(1)
        return captured if isinstance(captured, str) else ""


def re2_refusal(text: str) -> str | None:
    """Why RE2 refuses ``text`` (its own message), or None when it accepts it."""
    regex_class, options, _ = _re2()
    compiled = regex_class(text.encode("utf-8", "replace"), options)
    if compiled.ok():
        return None
    return _text(compiled.error())


def compile_metric_regex(text: str) -> MetricPattern:
    """Compile with RE2, else with the ``regex`` package; CompileError when neither can."""
    literal = required_literal(text)
    regex_class, options, unanchored = _re2()
    compiled = regex_class(text.encode("utf-8", "replace"), options)
    if compiled.ok():
        return Re2Pattern(text, compiled.NumberOfCapturingGroups(), literal, compiled, unanchored)
    import regex as backtracking  # only for the few regexes RE2 refuses: 20 ms to import

    try:
        slow = backtracking.compile(text)
    except Exception as exc:  # regex.error, or Overflow/RecursionError on absurd regexes
        reason = str(exc) if isinstance(exc, backtracking.error) else f"{type(exc).__name__}: {exc}"
        raise CompileError(reason) from None
    return BacktrackingPattern(text, slow.groups, literal, slow)


def _text(message: str | bytes) -> str:
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else message


# -- what the parse tree of a regex says -------------------------------------------------------
_PARSE_ERRORS = (re.error, RecursionError, OverflowError, ValueError, TypeError)


def _parse(text: str) -> Any:
    """Python's parse tree of ``text`` (None when Python's syntax does not read it)."""
    from re import _parser  # type: ignore[attr-defined]

    try:
        return _parser.parse(text)
    except _PARSE_ERRORS:
        return None


def required_literal(text: str) -> str | None:
    """A piece of text every match of ``text`` contains (the longest such run of plain
    characters in the regex's top-level sequence and its unquantified groups), or None.

    Conservative: None when Python's parser cannot read the regex (Java-only syntax such as
    ``\\p{L}`` or ``(?<name>...)``), when it sets any flag (case-insensitive, verbose...),
    or when its top level holds nothing but alternatives or quantified parts."""
    from re import _constants as sre  # type: ignore[attr-defined]

    tree = _parse(text)
    if tree is None or tree.state.flags & ~(re.UNICODE | re.NOFLAG):
        return None
    runs: list[str] = []
    current: list[str] = []

    def walk(items: Any) -> None:
        nonlocal current
        for op, arg in items:
            if op is sre.LITERAL:
                current.append(chr(arg))
            elif op is sre.SUBPATTERN and not arg[1] and not arg[2]:  # (...) with no flags
                walk(arg[3])
            else:
                runs.append("".join(current))
                current = []

    walk(tree)
    runs.append("".join(current))
    best = max(runs, key=len)
    return best or None


def backtracking_risk(text: str) -> str | None:
    """Why a backtracking engine may take exponential time on ``text`` (a repeat of a part
    that itself repeats or holds alternatives: ``(a+)+``, ``(a|aa)+``, ``(.*?,){11}``), or
    None when its parse tree shows no such shape (or Python cannot read it)."""
    from re import _constants as sre  # type: ignore[attr-defined]

    tree = _parse(text)
    if tree is None:
        return None
    repeats = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)

    def inner_risk(items: Any) -> str | None:
        """What inside a repeated part makes it ambiguous."""
        for op, arg in items:
            if op in repeats and arg[1] > 1:
                return "a repeated part that itself repeats"
            if op is sre.BRANCH:
                return "a repeated part with alternatives"
            for sub in _children(op, arg, sre):
                found = inner_risk(sub)
                if found:
                    return found
        return None

    def find(items: Any) -> str | None:
        for op, arg in items:
            if op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and arg[1] > 1:
                found = inner_risk(arg[2])
                if found:
                    return found
            for sub in _children(op, arg, sre):
                found = find(sub)
                if found:
                    return found
        return None

    return find(tree)


def _children(op: Any, arg: Any, sre: Any) -> list[Any]:
    """The nested sequences of one parse-tree item."""
    if op is sre.SUBPATTERN:
        return [arg[3]]
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        return [arg[2]]
    if op is sre.BRANCH:
        return list(arg[1])
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return [arg[1]]
    if op is sre.ATOMIC_GROUP:
        return [arg]
    if op is sre.GROUPREF_EXISTS:
        return [branch for branch in arg[1:] if branch is not None]
    return []
