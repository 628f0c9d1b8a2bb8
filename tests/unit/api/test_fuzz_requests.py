"""Fuzz regression: mutated training and tuning requests never crash or hang validation.

An independent fuzz run (issue 17) found requests that kept `smlocal validate` busy for
more than 20 s (YAML "billion laughs" documents). This seeded generator makes the same kinds
of request again on every run, from the example requests in ``examples/``: fields deleted,
duplicated or given values of other types (huge numbers, NaN, long strings, odd Unicode,
NUL), deep nesting, alias bombs, broken syntax, documents over the size limit. Each case
must end within its time limit with the request's problems, a pass, or a SpecError, never
another exception; some go through ``smlocal validate`` itself, which must write nothing.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import random
import signal
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import yaml

from runner.api import builtin
from runner.api.tuning_validation import validate_tuning
from runner.api.validation import validate_training
from runner.core import specs
from runner.core.problems import Problem, SpecError
from runner.interfaces.cli.main import main

SEED = 17
CASES = 300
TIME_LIMIT = 2.0  # seconds, each case
CLI_EVERY = 10  # every tenth case also goes through `smlocal validate`
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
BOMB_FIELDS = ("Tags", "HyperParameters", "InputDataConfig", "TrainingJobDefinition",
               "Environment", "HyperParameterTuningJobConfig")
ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 2**31, 2**63, 10**40, -(10**40), 1.5, math.nan, math.inf,
    -math.inf, "", " ", "x" * 3000, "y" * 70_000, "\x00", "a\x00b", "é☃𝄞\u202e\u0301", "\ufeff",
    "١٢٣", "1e309", "NaN", "-0", "true", "null", "file://", "file://\x00", "s3://",
    "s3://b/" + "k" * 2000, "smlocal/" + "n" * 300, "UPPER/Image:Tag", "local", "ml.nope.xlarge",
    "[", "{", "*", "&a", [], {}, [None], [1, "a"], {"a": 1}, {"": ""}, [[[]]],
    {"Name": "x", "Regex": "(a+)+$"}, "(?P<x>", "\\", "\ud800",
]
ODD_CHARS = "{}[]:,&*!|>-#'\"\t\n%@`?\x00\x7f\u2028\ufeff"


class CaseTimeout(BaseException):
    """A case that ran past TIME_LIMIT (a BaseException: no `except Exception` swallows it)."""


@functools.cache
def examples() -> list[tuple[str, dict[str, Any]]]:
    """The example requests, by file name."""
    found = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            found.append((path.name, data))
    return found


# -- the generator -----------------------------------------------------------------------------


def _positions(tree: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) in the tree, the root's fields first."""
    out: list[tuple[Any, Any]] = []
    todo: list[Any] = [tree]
    while todo:
        node = todo.pop(0)
        items = (
            node.items()
            if isinstance(node, dict)
            else enumerate(node)
            if isinstance(node, list)
            else []
        )
        for key, value in list(items):
            out.append((node, key))
            todo.append(value)
    return out


def _depth(tree: Any) -> int:
    if isinstance(tree, dict | list):
        items = tree.values() if isinstance(tree, dict) else tree
        return 1 + max((_depth(item) for item in items), default=0)
    return 0


def _nest(rng: random.Random, value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value] if rng.random() < 0.5 else {"k": value}
    return value


def _mutate_data(rng: random.Random, request: dict[str, Any]) -> None:
    """One change to the request's data, at a random place."""
    positions = _positions(request)
    if not positions:
        return
    parent, key = rng.choice(positions)
    value = parent[key]
    op = rng.randrange(10)
    if op == 0:
        del parent[key]
    elif op in (1, 2):
        parent[key] = copy.deepcopy(rng.choice(ODD_VALUES))
    elif op == 3 and _depth(request) < 50:  # (deeper still: the text mutations)
        parent[key] = _nest(rng, value, rng.choice([5, 40, 99, 100, 101, 150]))
    elif op == 4 and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(value))  # a duplicate list entry (channel, definition)
    elif op == 4:
        parent[f"{key}Unknown"] = copy.deepcopy(value)
    elif op == 5 and isinstance(value, str):
        parent[key] = value * rng.choice([2, 100, 5000])
    elif op == 5:
        parent[key] = str(value)
    elif op == 6 and isinstance(value, str):
        at = rng.randrange(len(value) + 1)
        parent[key] = (
            value[:at] + rng.choice(["\x00", "\u202e", "𝄞", "\ud800", "\n", "é"]) + value[at:]
        )
    elif op == 6:
        parent[key] = [value] if not isinstance(value, list) else {"0": value}
    elif op == 7:
        other_parent, other_key = rng.choice(positions)
        parent[key] = copy.deepcopy(other_parent[other_key])
    elif op == 8:
        parent[key] = rng.choice(
            [10 ** rng.randrange(1, 30), -(10 ** rng.randrange(1, 30)), 1e308 * 10, 0.1]
        )
    elif isinstance(value, dict):  # a key YAML reads as no string (JSON makes it one)
        value[rng.choice([1, 0, -1, 2.5, None, True, False])] = rng.choice(["x", 1, None, [], {}])
    else:
        parent[key] = {rng.choice([1, None, True]): value}


def _alias_bomb(rng: random.Random, field: str) -> str:
    """A "billion laughs" document part: levels of anchors, each aliasing the one before."""
    levels, width = rng.randint(9, 12), rng.randint(8, 12)
    lines = [f"{field}:"]
    as_map = rng.random() < 0.5
    first = "[" + ", ".join(["lol"] * width) + "]"
    for i in range(levels):
        value = first if i == 0 else "[" + ", ".join([f"*l{i - 1}"] * width) + "]"
        lines.append(f"  l{i}: &l{i} {value}" if as_map else f"  - &l{i} {value}")
    return "\n".join(lines) + "\n"


def _text_bomb(rng: random.Random, field: str) -> str:
    """Aliases of one long string: little text, much once expanded."""
    count = rng.choice([100, 500, 12_000])
    return f"{field}:\n  - &s {'z' * 50_000}\n  - [" + ", ".join(["*s"] * count) + "]\n"


def _mutate_text(rng: random.Random, text: str, is_json: bool, request: dict[str, Any]) -> str:
    op = rng.choices(range(8), weights=[2, 2, 2, 5, 1, 1, 1, 1])[0]
    if op == 0:  # broken syntax: cut short
        return text[: rng.randrange(len(text) + 1)]
    if op == 1:  # odd characters here and there
        chars = list(text)
        for _ in range(rng.randint(1, 5)):
            chars[rng.randrange(len(chars))] = rng.choice(ODD_CHARS)
        return "".join(chars)
    if op == 2:  # a key given twice
        key = rng.choice(list(request) or ["TrainingJobName"])
        if is_json:
            return "{" + json.dumps(key) + ": 1, " + text.lstrip()[1:]
        return text + f"{key}: again\n"
    if op == 3 and not is_json:  # an alias bomb where the fuzz run put them
        field = rng.choice(BOMB_FIELDS)
        rest = {k: v for k, v in request.items() if k != field}
        bomb = _alias_bomb(rng, field) if rng.random() < 0.8 else _text_bomb(rng, field)
        return yaml.safe_dump(rest, sort_keys=False) + bomb
    if op == 4:  # over the size limit
        return text + ("\n# " + "p" * (1024 * 1024) + "\n" if not is_json else " " * (1024 * 1024))
    if op == 5:  # nested deeper than any request, in the text itself
        depth = rng.choice([101, 500, 5000])
        return (
            text.rstrip().rstrip("}")
            + (", " if is_json else "\n")
            + (
                f'"Deep": {"[" * depth}{"]" * depth}}}'
                if is_json
                else f"Deep: {'[' * depth}{']' * depth}\n"
            )
        )
    if op == 6:  # a long integer
        digits = "9" * rng.choice([50, 1001, 5000])
        return (
            (text.rstrip().rstrip("}") + f', "Big": {digits}}}')
            if is_json
            else text + f"Big: {digits}\n"
        )
    return text


def make_case(index: int) -> tuple[str, str]:
    """Case ``index``: a file name (its suffix says JSON or YAML) and the document's text."""
    rng = random.Random(f"{SEED}:{index}")
    name, request = rng.choice(examples())
    request = copy.deepcopy(request)
    for _ in range(rng.randint(0, 3)):
        _mutate_data(rng, request)
    is_json = rng.random() < 0.4
    if is_json:
        text = json.dumps(request, indent=rng.choice([None, 2]))
    else:
        text = yaml.safe_dump(
            request, sort_keys=False, allow_unicode=rng.random() < 0.5, width=10**6
        )
    if rng.random() < 0.5:
        text = _mutate_text(rng, text, is_json, request)
    return f"case{index}-{Path(name).stem}.{'json' if is_json else 'yaml'}", text


# -- the checks --------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def warm() -> None:
    """Load the service model once, outside every case's time limit."""
    name, request = examples()[0]
    validate_training(specs.spec_from_dict(copy.deepcopy(request), EXAMPLES))


@pytest.fixture
def time_limit() -> Iterator[None]:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise CaseTimeout(f"the case ran past {TIME_LIMIT} s")

    before = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)


def validate_text(text: str, source: str, rng: random.Random) -> list[Problem]:
    """What `smlocal validate` does, in-process and with no Docker engine."""
    spec = specs.spec_from_dict(specs.parse_document(text, source), EXAMPLES)
    spec = replace(spec, request=builtin.complete(spec.request))
    image_check: Callable[[str], bool] = lambda image: len(image) % 2 == 0  # noqa: E731
    for_cloud = rng.random() < 0.25
    if specs.is_tuning_request(spec.request):
        return validate_tuning(
            spec,
            for_cloud=for_cloud,
            image_check=image_check,
            parent_exists=lambda name: name.startswith("p"),
        )
    return validate_training(spec, for_cloud=for_cloud, image_check=image_check)


@pytest.mark.parametrize("index", range(CASES))
def test_validation_survives_mutated_requests(index: int, time_limit: None) -> None:
    source, text = make_case(index)
    try:
        problems = validate_text(text, source, random.Random(index))
    except SpecError as exc:
        problems = exc.problems
    for problem in problems:
        assert isinstance(problem, Problem), problem
        assert (
            isinstance(problem.path, str) and isinstance(problem.message, str) and problem.message
        )


@pytest.mark.parametrize("index", range(0, CASES, CLI_EVERY))
def test_smlocal_validate_survives_mutated_requests(
    index: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    time_limit: None,
) -> None:
    source, text = make_case(index)
    path = tmp_path / source
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SMLOCAL_HOME", raising=False)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        code = main(["validate", "--no-image-check", str(path)])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    out, err = capsys.readouterr()
    assert code in (0, 2), err
    assert "internal error" not in err and "Traceback" not in err
    assert (out, code == 0) in (("valid\n", True), ("", False))
    assert sorted(p.name for p in tmp_path.iterdir()) == [source]  # validation writes nothing


def test_the_generator_makes_what_the_fuzz_run_found() -> None:
    """The corpus keeps its kinds: alias bombs, both formats, oversized and deep documents."""
    texts = [make_case(i) for i in range(CASES)]
    assert sum("&l0" in text for _, text in texts) >= 10
    assert sum(name.endswith(".json") for name, _ in texts) >= CASES // 4
    assert sum(len(text) > 1024 * 1024 for _, text in texts) >= 3
    assert any("[" * 101 in text for _, text in texts)
