"""The service model's Java regexes, for Python, and the checks of a string against a
field's rules. No botocore here: the validation cache checks names with it alone."""

from __future__ import annotations

import functools
from typing import Any

import regex

_REGEX_TIMEOUT_S = 1.0

# Java's POSIX classes are US-ASCII only; the bodies go inside ``[...]``.
_JAVA_CLASSES = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": r"\x00-\x7F",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": r"!-/:-@\[-`{-~",
    "Graph": r"!-~",
    "Print": r"\x20-\x7E",
    "Blank": r" \t",
    "Cntrl": r"\x00-\x1F\x7F",
    "XDigit": "0-9a-fA-F",
    "Space": r" \t\n\x0B\f\r",
}
# Java's \d \w \s are ASCII-only too (Python's are Unicode).
_JAVA_SHORTHANDS = {"d": "0-9", "w": "a-zA-Z_0-9", "s": r" \t\n\x0B\f\r"}
# Java's "." stops at any line terminator, not only "\n".
_JAVA_DOT = r"[^\n\r\u0085\u2028\u2029]"
LINE_BREAKS = regex.compile(r"[\n\r\u0085\u2028\u2029]")
_SURROGATE_PAIR = regex.compile(r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})")




def translate_java_pattern(pattern: str) -> str:
    r"""Rewrite the Java-only parts of ``pattern`` for the ``regex`` package.

    ``\p{Alnum}`` and the other POSIX classes, and ``\d \w \s``, become their ASCII sets;
    ``.`` stops at every Java line terminator; a UTF-16 surrogate pair ``\uD800\uDC00``
    becomes the code point it encodes. Everything else is passed through.
    """
    out: list[str] = []
    in_class = False
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            text, i = _translate_escape(pattern, i, in_class)
            out.append(text)
            continue
        if c == "[" and not in_class:
            in_class = True
            out.append(c)
            # A "]" right after "[" or "[^" is a literal, not the end of the class.
            for lead in ("^", "]"):
                if pattern.startswith(lead, i + 1):
                    i += 1
                    out.append(pattern[i])
        elif c == "]" and in_class:
            in_class = False
            out.append(c)
        elif c == "." and not in_class:
            out.append(_JAVA_DOT)
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _translate_escape(pattern: str, i: int, in_class: bool) -> tuple[str, int]:
    """Translate the escape starting at ``pattern[i] == "\\"``; returns (text, next index)."""
    letter = pattern[i + 1]
    if letter in "pP" and pattern.startswith("{", i + 2):
        end = pattern.find("}", i + 3)
        if end != -1:
            body = _JAVA_CLASSES.get(pattern[i + 3 : end])
            original = pattern[i : end + 1]
            if body is not None:
                return _as_set(body, letter == "P", in_class, original), end + 1
            return original, end + 1
    if letter.lower() in _JAVA_SHORTHANDS:
        body = _JAVA_SHORTHANDS[letter.lower()]
        return _as_set(body, letter.isupper(), in_class, pattern[i : i + 2]), i + 2
    if letter == "u":
        pair = _SURROGATE_PAIR.match(pattern, i)
        if pair is not None:
            high, low = int(pair.group(1), 16), int(pair.group(2), 16)
            code_point = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
            return f"\\U{code_point:08X}", pair.end()
    return pattern[i : i + 2], i + 2


def _as_set(body: str, negated: bool, in_class: bool, original: str) -> str:
    """``body`` as a set of its own, or inlined into the enclosing set."""
    if not in_class:
        return f"[{'^' if negated else ''}{body}]"
    # A negated set inside a set cannot be inlined: keep the original (Unicode) form.
    return original if negated else body


@functools.cache
def compile_pattern(pattern: str) -> regex.Pattern[str] | None:
    """The compiled ``regex`` for a model pattern, or None if it cannot be compiled."""
    try:
        return regex.compile(translate_java_pattern(pattern))
    except regex.error:
        return None


def matches(pattern: str, value: str) -> bool:
    """Whether ``value`` as a whole matches ``pattern``; True if that cannot be decided."""
    compiled = compile_pattern(pattern)
    if compiled is None:
        return True
    try:
        return compiled.fullmatch(value, timeout=_REGEX_TIMEOUT_S) is not None
    except TimeoutError:
        return True


def count(number: Any, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"




def string_problems(
    value: str, *, minimum: int | None, maximum: int | None, pattern: str | None
) -> list[str]:
    """What is wrong with ``value`` for a string field with these rules, worded as
    ``runner.shapes.model`` words them."""
    out = []
    if minimum is not None and len(value) < minimum:
        out.append(f"must be at least {count(minimum, 'character', 'characters')} (got "
                   f"{len(value)})")
    if maximum is not None and len(value) > maximum:
        out.append(f"must be at most {count(maximum, 'character', 'characters')} (got "
                   f"{len(value)})")
    if pattern is not None and not matches(pattern, value):
        hint = ""
        if LINE_BREAKS.search(value) and matches(pattern, LINE_BREAKS.sub(" ", value)):
            hint = " (line breaks are not allowed)"
        out.append(f"must match {pattern}{hint}")
    return out
