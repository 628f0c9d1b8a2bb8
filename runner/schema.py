"""Validate an AWS SageMaker request dict against botocore's SageMaker service model.

botocore's service model *is* the schema: nothing here retypes a shape by hand.
``botocore.validate.ParamValidator`` checks required members, types, unknown members
and ``min``; this module adds what it skips (``max``, ``pattern`` and ``enum``) by
walking the request alongside the shape tree.

The model is loaded on first use, never at import time.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import botocore.model
import botocore.session
import botocore.validate
import regex

from runner.problems import Problem, join_path

__all__ = [
    "compile_pattern",
    "input_shape",
    "load_service_model",
    "translate_java_pattern",
    "validate_request",
]

_SERVICE = "sagemaker"
_ENUM_SHOWN = 10
_REGEX_TIMEOUT_S = 1.0

# What a value of each botocore type must be, for messages ("must be a string, got int").
_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "long": "an integer",
    "float": "a number",
    "double": "a number",
    "boolean": "a boolean",
    "structure": "a dict",
    "map": "a dict",
    "list": "a list",
    "blob": "bytes or str",
    "timestamp": "a datetime or timestamp string",
}
_NUMBER_TYPES = frozenset({"integer", "long", "float", "double"})

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
_LINE_BREAKS = regex.compile(r"[\n\r\u0085\u2028\u2029]")
_SURROGATE_PAIR = regex.compile(r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})")


@functools.cache
def load_service_model() -> botocore.model.ServiceModel:
    """botocore's SageMaker service model, loaded once on first call."""
    return botocore.session.get_session().get_service_model(_SERVICE)


@functools.cache
def input_shape(operation: str) -> botocore.model.StructureShape:
    """The input shape of ``operation``, e.g. ``input_shape("CreateTrainingJob")``."""
    model = load_service_model()
    if operation not in model.operation_names:
        raise ValueError(f"unknown SageMaker operation {operation!r}")
    shape = model.operation_model(operation).input_shape
    if shape is None:
        raise ValueError(f"SageMaker operation {operation!r} takes no input")
    return shape


def validate_request(params: dict[str, Any], operation: str) -> list[Problem]:
    """Every problem with ``params`` as a request to ``operation``, sorted by path."""
    shape = input_shape(operation)
    walker = _Walker()
    walker.walk(params, shape, name="", path="")
    report = botocore.validate.ParamValidator().validate(params, shape)
    # ValidationErrors keeps its (reason, name, info) tuples in ``_errors`` (no public API).
    errors = cast(list[tuple[str, str, dict[str, Any]]] | None, getattr(report, "_errors", None))
    problems = set(walker.problems)
    if errors is not None:
        problems.update(_from_botocore(error, walker.nodes) for error in errors)
    elif report.has_errors():
        problems.add(Problem("", report.generate_report()))
    return sorted(problems)


# --- Java patterns ---------------------------------------------------------------------


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


def _matches(pattern: str, value: str) -> bool:
    """Whether ``value`` as a whole matches ``pattern``; True if that cannot be decided."""
    compiled = compile_pattern(pattern)
    if compiled is None:
        return True
    try:
        return compiled.fullmatch(value, timeout=_REGEX_TIMEOUT_S) is not None
    except TimeoutError:
        return True


# --- the walk: max, pattern, enum ------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    """Where a botocore error name points: our path, the shape there, and a map key if any."""

    path: str
    shape: botocore.model.Shape
    key: str | None = None  # repr() of the map key, for a key's own problems


class _Walker:
    """Walks params with their shapes: checks what ParamValidator skips and indexes names.

    ``nodes`` maps each name in ParamValidator's style (``.A.B[0]``, ``.M (key: k)``)
    to its node, so its errors can be reported with the same paths and type words.
    """

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.nodes: dict[str, _Node] = {}

    def walk(self, value: Any, shape: botocore.model.Shape, name: str, path: str) -> None:
        self.nodes[name] = _Node(path, shape)
        for message in self._check(value, shape):
            self.problems.append(Problem(path, message))
        self._descend(value, shape, name, path)

    def _descend(self, value: Any, shape: botocore.model.Shape, name: str, path: str) -> None:
        if isinstance(shape, botocore.model.StructureShape) and not shape.is_document_type:
            if isinstance(value, dict):
                members = shape.members
                for key, item in value.items():
                    if key in members:
                        self.walk(item, members[key], f"{name}.{key}", join_path(path, key))
        elif isinstance(shape, botocore.model.ListShape):
            if isinstance(value, list | tuple):
                for index, item in enumerate(value):
                    self.walk(item, shape.member, f"{name}[{index}]", join_path(path, index))
        elif isinstance(shape, botocore.model.MapShape) and isinstance(value, dict):
            for key, item in value.items():
                key_name = f"{name} (key: {key})"
                self.nodes[key_name] = _Node(path, shape.key, key=repr(key))
                for message in self._check(key, shape.key):
                    self.problems.append(Problem(path, f"key {key!r}: {message}"))
                self.walk(item, shape.value, f"{name}.{key}", join_path(path, str(key)))

    def _check(self, value: Any, shape: botocore.model.Shape) -> Iterator[str]:
        type_name = shape.type_name
        if type_name in _NUMBER_TYPES and isinstance(value, bool):
            # ParamValidator lets a bool through (it is an int); the service does not.
            yield f"must be {_TYPE_WORDS[type_name]}, got bool"
            return
        maximum = shape.metadata.get("max")
        if type_name == "string" and isinstance(value, str):
            yield from _check_string(value, shape, maximum)
        elif maximum is not None and type_name in ("list", "map"):
            if isinstance(value, list | tuple | dict) and len(value) > maximum:
                one, many = ("item", "items") if type_name == "list" else ("entry", "entries")
                yield f"must have at most {_count(maximum, one, many)} (got {len(value)})"
        elif maximum is not None and type_name in _NUMBER_TYPES:
            if isinstance(value, int | float) and value > maximum:
                yield f"must be at most {maximum} (got {value})"


def _check_string(value: str, shape: botocore.model.Shape, maximum: Any) -> Iterator[str]:
    if maximum is not None and len(value) > maximum:
        yield f"must be at most {_count(maximum, 'character', 'characters')} (got {len(value)})"
    enum = shape.enum if isinstance(shape, botocore.model.StringShape) else []
    if enum and value not in enum:
        yield _enum_message(value, enum)
    pattern = shape.metadata.get("pattern")
    if isinstance(pattern, str) and not _matches(pattern, value):
        hint = ""
        if _LINE_BREAKS.search(value) and _matches(pattern, _LINE_BREAKS.sub(" ", value)):
            hint = " (line breaks are not allowed)"
        yield f"must match {pattern}{hint}"


def _enum_message(value: str, enum: list[str]) -> str:
    shown = ", ".join(enum[:_ENUM_SHOWN])
    if len(enum) > _ENUM_SHOWN:
        shown += f", ... ({len(enum)} values)"
    message = f"must be one of {shown} (got {value!r})"
    close = difflib.get_close_matches(value, enum, n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    return message


def _count(number: Any, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


# --- ParamValidator's report -----------------------------------------------------------


def _from_botocore(error: tuple[str, str, dict[str, Any]], nodes: dict[str, _Node]) -> Problem:
    """One ParamValidator error as a Problem with our path and wording."""
    reason, name, info = error
    node = nodes.get(name)
    path = node.path if node is not None else name.lstrip(".")
    shape = node.shape if node is not None else None
    if reason == "missing required field":
        return Problem(join_path(path, str(info["required_name"])), "is required")
    if reason == "unknown field":
        valid = ", ".join(str(v) for v in info["valid_names"])
        return Problem(
            join_path(path, str(info["unknown_param"])), f"is not a known field (valid: {valid})"
        )
    message = _message(reason, info, shape)
    if node is not None and node.key is not None:
        message = f"key {node.key}: {message}"
    return Problem(path, message)


def _message(reason: str, info: dict[str, Any], shape: botocore.model.Shape | None) -> str:
    type_name = shape.type_name if shape is not None else ""
    if reason == "invalid type":
        wanted = _TYPE_WORDS.get(type_name) or "one of " + ", ".join(info["valid_types"])
        return f"must be {wanted}, got {type(info['param']).__name__}"
    if reason == "invalid range":
        return f"must be at least {info['min_allowed']} (got {info['param']})"
    if reason == "invalid length":
        minimum, got = info["min_allowed"], info["param"]
        if type_name == "list":
            return f"must have at least {_count(minimum, 'item', 'items')} (got {got})"
        if type_name == "map":
            return f"must have at least {_count(minimum, 'entry', 'entries')} (got {got})"
        return f"must be at least {_count(minimum, 'character', 'characters')} (got {got})"
    if reason == "unable to encode to json":
        return f"must be JSON serializable: {info['type_error']}"
    if reason == "invalid type for document":
        return f"must be a str, int, bool, float, list or dict, got {type(info['param']).__name__}"
    if reason == "more than one input":
        return "must set exactly one of " + ", ".join(info["members"]) + ", not several"
    if reason == "empty input":
        return "must set one of " + ", ".join(info["members"])
    return reason
