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

from runner.core.problems import Problem, join_path
from runner.shapes.patterns import LINE_BREAKS as _LINE_BREAKS
from runner.shapes.patterns import compile_pattern, translate_java_pattern
from runner.shapes.patterns import count as _count
from runner.shapes.patterns import matches as _matches

__all__ = [
    "compile_pattern",
    "input_shape",
    "load_service_model",
    "translate_java_pattern",
    "validate_request",
]

_SERVICE = "sagemaker"
_ENUM_SHOWN = 10

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

@functools.cache
def load_service_model(service: str = _SERVICE) -> botocore.model.ServiceModel:
    """botocore's model of ``service`` (SageMaker's unless told), loaded once on first call."""
    return botocore.session.get_session().get_service_model(service)


@functools.cache
def input_shape(operation: str, service: str = _SERVICE) -> botocore.model.StructureShape:
    """The input shape of ``operation``, e.g. ``input_shape("CreateTrainingJob")``."""
    model = load_service_model(service)
    if operation not in model.operation_names:
        raise ValueError(
            f"unknown {model.metadata.get('serviceId', service)} operation {operation!r}")
    shape = model.operation_model(operation).input_shape
    if shape is None:
        raise ValueError(
            f"{model.metadata.get('serviceId', service)} operation {operation!r} takes no input")
    return shape


def string_rule(operation: str, member: str) -> dict[str, Any]:
    """The ``min``, ``max`` and ``pattern`` of a top-level string member of ``operation``'s
    input."""
    metadata = input_shape(operation).members[member].metadata
    return {"minimum": metadata.get("min"), "maximum": metadata.get("max"),
            "pattern": metadata.get("pattern")}


def member_max(operation: str, member: str) -> int:
    """The ``max`` of a top-level member of ``operation``'s input (a page size, a length)."""
    return int(input_shape(operation).members[member].metadata["max"])


def validate_request(
    params: dict[str, Any], operation: str, service: str = _SERVICE
) -> list[Problem]:
    """Every problem with ``params`` as a request to ``operation``, sorted by path."""
    shape = input_shape(operation, service)
    walker = _Walker()
    walker.walk(params, shape, name="", path="")
    try:
        report = botocore.validate.ParamValidator().validate(params, shape)
    except (RuntimeError, OverflowError, ValueError) as exc:  # a time botocore cannot place
        return sorted({*walker.problems, Problem("", f"a value is out of range: {exc}")})
    # ValidationErrors keeps its (reason, name, info) tuples in ``_errors`` (no public API).
    errors = cast(list[tuple[str, str, dict[str, Any]]] | None, getattr(report, "_errors", None))
    problems = set(walker.problems)
    if errors is not None:
        problems.update(_from_botocore(error, walker.nodes) for error in errors)
    elif report.has_errors():
        problems.add(Problem("", report.generate_report()))
    return sorted(problems)


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
