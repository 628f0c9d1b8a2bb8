"""A request file's text as plain data (dicts, lists, strings, numbers), within bounds.

A request is small: the service caps every list and string in it. So a document is refused,
with the field path where it went past a bound (or the file's name), before anything else
spends time on it, when it holds more than 1 MiB of text, nests more than 100 levels deep,
holds more than 100,000 values or 4 MiB of text once its YAML aliases are expanded (a
"billion laughs" document is a few lines long), uses more than 10,000 aliases, or holds an
integer too long to read. A key given twice in one mapping is refused too (the parsers
would keep the last silently), and so is an alias of a node that contains it (a request
that would contain itself).

YAML timestamps are read as the strings they are written as: the request's own shape
(boto3's, JSON's) has no date type.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from runner.core.problems import Problem, SpecError, join_path

MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_DEPTH = 100
MAX_VALUES = 100_000
MAX_ALIASES = 10_000
MAX_TEXT_CHARS = 4 * 1024 * 1024  # strings and keys, once aliases are expanded
MAX_INTEGER_CHARS = 1_000  # Python reads 4,300 digits at most; the service's longest is 19
_INT_TAG = "tag:yaml.org,2002:int"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# a lone surrogate, or an escape that may make one (JSON's and YAML's \\uD800)
_SURROGATE = re.compile(r"[\ud800-\udfff]|\\u[dD][89a-fA-F]|\\U0000[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_NOT_TEXT = "no UTF-8 text can hold one: write the character itself"
_DEPTH_MESSAGE = f"is nested more than {MAX_DEPTH} levels deep; a request never is"


def size_problem(source: str) -> Problem:
    return Problem(source, f"is larger than 1 MiB ({MAX_DOCUMENT_BYTES:,} bytes), "
                           "the most a request file may hold")


def parse_document(text: str, source: str) -> dict[str, Any]:
    """A request file's text as a dict; JSON is YAML, but JSON errors read better as JSON.
    Raises SpecError with every problem found (or the bound it passed)."""
    too_big = len(text) > MAX_DOCUMENT_BYTES  # (characters: at least as many bytes)
    if too_big or len(text.encode("utf-8", "surrogatepass")) > MAX_DOCUMENT_BYTES:
        raise SpecError([size_problem(source)])
    problems: list[Problem] = []
    try:
        if text.lstrip().startswith("{"):
            data = _load_json(text, problems)
        else:
            data = _load_yaml(text, source, problems)
    except _Refused as exc:
        raise SpecError([exc.problem]) from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}: {exc.msg}"
        raise SpecError([Problem(source, f"not valid JSON: {where}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        reason = getattr(exc, "problem", None) or " ".join(str(exc).split())
        raise SpecError([Problem(source, f"not valid YAML: {where}{reason}")]) from None
    except RecursionError:  # JSON deeper than its parser goes (YAML's stops at MAX_DEPTH)
        raise SpecError([Problem(source, _DEPTH_MESSAGE)]) from None
    except ValueError as exc:  # a value YAML cannot build, e.g. !!timestamp 2001-02-30
        raise SpecError([Problem(source, f"not valid YAML: {exc}")]) from None
    if _SURROGATE.search(text):
        _find_surrogates(data, "", problems)
    if problems:
        raise SpecError(problems)
    if not isinstance(data, dict):
        raise SpecError([Problem(source, "must hold a mapping of request fields at the top level")])
    return data


def _find_surrogates(value: Any, path: str, problems: list[Problem]) -> None:
    """Strings holding half of a UTF-16 surrogate pair (``"\\ud800"`` in JSON or in a YAML
    double-quoted string): no UTF-8 text, file name or request body can hold one."""
    if isinstance(value, dict):
        for key, item in value.items():
            name = str(key).encode("utf-8", "backslashreplace").decode("utf-8")
            child = join_path(path, name)
            if name != str(key):
                problems.append(Problem(child, f"{_surrogate(str(key))} in its name; {_NOT_TEXT}"))
            _find_surrogates(item, child, problems)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _find_surrogates(item, join_path(path, i), problems)
    elif isinstance(value, str) and _LONE_SURROGATE.search(value):
        problems.append(Problem(path, f"{_surrogate(value)}; {_NOT_TEXT}"))


def _surrogate(text: str) -> str:
    found = _LONE_SURROGATE.search(text)
    return f"holds {found.group() if found else ''!r}, half of a UTF-16 surrogate pair"


class _Refused(Exception):
    """A document past one of the bounds: parsing stops at once."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


# -- JSON -----------------------------------------------------------------------------------


class _JsonObject(list[tuple[str, Any]]):
    """A JSON object's (key, value) pairs in order, duplicates kept (``object_pairs_hook``)."""


class _LongInteger(str):
    """An integer literal too long to read; reported with its path."""


def _json_int(literal: str) -> int | _LongInteger:
    return _LongInteger(literal) if len(literal) > MAX_INTEGER_CHARS else int(literal)


def _load_json(text: str, problems: list[Problem]) -> Any:
    raw = json.loads(text, object_pairs_hook=_JsonObject, parse_int=_json_int)
    return _json_tree(raw, "", 1, problems, [0])


def _json_tree(
    value: Any, path: str, depth: int, duplicates: list[Problem], count: list[int]
) -> Any:
    """``value`` with its objects as dicts; a key given twice in one object is reported."""
    count[0] += 1
    if count[0] > MAX_VALUES:
        raise _Refused(Problem(path, f"passes {MAX_VALUES:,} values; a request holds far fewer"))
    if isinstance(value, _LongInteger):
        raise _Refused(Problem(path, _long_integer(value)))
    if depth > MAX_DEPTH:
        raise _Refused(Problem(path, _DEPTH_MESSAGE))
    if not isinstance(value, list):
        return value
    if isinstance(value, _JsonObject):
        out: dict[str, Any] = {}
        for key, item in value:
            child = join_path(path, key)
            if key in out:
                duplicates.append(Problem(child, "is given twice in the same object; give it once"))
            out[key] = _json_tree(item, child, depth + 1, duplicates, count)
        return out
    return [
        _json_tree(item, join_path(path, i), depth + 1, duplicates, count)
        for i, item in enumerate(value)
    ]


def _long_integer(literal: str) -> str:
    return f"is an integer {len(literal):,} characters long; a request's numbers are far shorter"


# -- YAML -----------------------------------------------------------------------------------


class _Bounds(yaml.composer.Composer):
    """PyYAML's composer, within the bounds, with timestamps read as strings; the loaders
    below put it over PyYAML's own parser and over libyaml's.

    The composer hands an alias the node its anchor named, so the tree of nodes stays as
    small as the text; the sizes of anchored nodes are remembered, and each alias adds its
    anchor's expanded size to the running totals, which stop the composer at the alias that
    takes them past a bound.
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def bound(self, source: str) -> None:
        yaml.composer.Composer.__init__(self)
        self.source = source
        self.trail: list[str | int | None] = []  # the path to the node being composed
        self.heights: list[int] = []  # of the deepest child so far, for each node on the trail
        self.sizes: dict[int, tuple[int, int, int]] = {}  # anchored node: values, chars, height
        self.values = 0
        self.chars = 0
        self.aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if isinstance(parent, yaml.SequenceNode):
            self.trail.append(len(parent.value))
        elif isinstance(parent, yaml.MappingNode) and index is not None:
            self.trail.append(str(index.value) if isinstance(index, yaml.ScalarNode) else "?")
        else:
            self.trail.append(None)  # the document, or a mapping's key
        try:
            event = self.peek_event()  # type: ignore[attr-defined]
            if isinstance(event, yaml.AliasEvent):
                return self._compose_alias(parent, index)
            return self._compose_own(parent, index, event.anchor)
        finally:
            self.trail.pop()

    def _compose_alias(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self.aliases += 1
        if self.aliases > MAX_ALIASES:
            raise self._refuse(f"is alias number {self.aliases:,} of the YAML document; a request "
                               f"needs far fewer than {MAX_ALIASES:,}")
        node = super().compose_node(parent, index)
        # an anchor not yet complete: the alias is inside it (reported as recursive later)
        values, chars, height = self.sizes.get(id(node), (1, 0, 1))
        self._grow(values, chars)
        self._reach(height)
        return node

    def _compose_own(
        self, parent: yaml.Node | None, index: Any, anchor: str | None
    ) -> yaml.Node | None:
        if len(self.trail) > MAX_DEPTH:
            raise self._refuse(_DEPTH_MESSAGE)
        values, chars = self.values, self.chars
        self._grow(1, 0)
        self.heights.append(0)
        node = super().compose_node(parent, index)
        height = self.heights.pop() + 1
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _INT_TAG and len(node.value) > MAX_INTEGER_CHARS:
                raise self._refuse(_long_integer(node.value))
            self._grow(0, len(node.value))
        if anchor is not None:
            self.sizes[id(node)] = (self.values - values, self.chars - chars, height)
        self._reach(height)
        return node

    def _grow(self, values: int, chars: int) -> None:
        self.values += values
        self.chars += chars
        expanded = " once the YAML aliases before it are expanded" if self.aliases else ""
        if self.values > MAX_VALUES:
            raise self._refuse(f"passes {MAX_VALUES:,} values{expanded}; a request holds far fewer")
        if self.chars > MAX_TEXT_CHARS:
            raise self._refuse(f"passes {MAX_TEXT_CHARS // 1024 // 1024} MiB of text{expanded}; "
                               "a request holds far less")

    def _reach(self, height: int) -> None:
        """A child of ``height`` levels under the node on top of the trail."""
        if self.heights:
            self.heights[-1] = max(self.heights[-1], height)
        if len(self.trail) - 1 + height > MAX_DEPTH:
            raise self._refuse(f"is nested more than {MAX_DEPTH} levels deep once its YAML aliases "
                               "are expanded; a request never is")

    def _refuse(self, message: str) -> _Refused:
        path = ""
        for part in self.trail:
            if part is not None:
                path = join_path(path, part)
        return _Refused(Problem(path or self.source, message))


class _PyLoader(_Bounds, yaml.SafeLoader):
    def __init__(self, text: str, source: str) -> None:
        yaml.SafeLoader.__init__(self, text)
        self.bound(source)


if yaml.__with_libyaml__:

    class _CLoader(_Bounds, yaml.CSafeLoader):
        """libyaml's parser (about five times as fast) under the same composer."""

        def __init__(self, text: str, source: str) -> None:
            yaml.CSafeLoader.__init__(self, text)
            self.bound(source)


def _load_yaml(text: str, source: str, problems: list[Problem]) -> Any:
    if yaml.__with_libyaml__:
        try:
            return _load_with(_CLoader(text, source), problems)
        except yaml.MarkedYAMLError as exc:
            # libyaml looks ahead and stops at 1,000 levels before the composer sees 100
            # (PyYAML's parser would look ahead too, slowly)
            if exc.problem_mark is not None and "maximum nesting depth" in str(exc.problem):
                where = f"line {exc.problem_mark.line + 1} column {exc.problem_mark.column + 1}"
                raise _Refused(Problem(source, f"{where}: {_DEPTH_MESSAGE}")) from None
        except yaml.YAMLError:
            pass
        # PyYAML's parser says what is wrong, in the words its users know
    return _load_with(_PyLoader(text, source), problems)


def _load_with(loader: _PyLoader | _CLoader, problems: list[Problem]) -> Any:
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_yaml_node(node, "", problems, set(), set())
        return None if problems else _plain(loader.construct_document(node))
    finally:
        loader.dispose()


def _plain(value: Any) -> Any:
    """A tree of its own for each use of a shared (aliased) value, as JSON would give: a
    change to one place of the request (a default filled in) changes no other."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _check_yaml_node(node: yaml.Node, path: str, problems: list[Problem], seen: set[int],
                     enclosing: set[int]) -> None:
    """Keys given twice in one mapping, and aliases of an enclosing node (a request that would
    contain itself); each shared node is checked once."""
    if id(node) in enclosing:
        problems.append(Problem(path, "refers to a mapping or list that contains it (a YAML "
                                      "alias); a request cannot be recursive"))
        return
    if id(node) in seen:
        return
    seen.add(id(node))
    enclosing.add(id(node))
    if isinstance(node, yaml.MappingNode):
        lines: dict[tuple[str, Any], int] = {}
        for key, item in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                # a merged mapping: its own keys
                _check_yaml_node(item, path, problems, seen, enclosing)
                continue
            child = join_path(path, str(key.value))
            line = key.start_mark.line + 1
            if (key.tag, key.value) in lines:
                first = lines[(key.tag, key.value)]
                problems.append(Problem(child, f"is given twice in the same mapping (lines {first} "
                                               f"and {line}); give it once"))
            lines.setdefault((key.tag, key.value), line)
            _check_yaml_node(item, child, problems, seen, enclosing)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_yaml_node(item, join_path(path, i), problems, seen, enclosing)
    enclosing.discard(id(node))
