"""Tests for runner.core.documents: request documents are refused at once, with a field path,
when they pass a bound (issue 17: alias bombs, deep nesting, size)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from runner.core import documents, specs
from runner.core.problems import SpecError

VALUES = (
    "passes 100,000 values once the YAML aliases before it are expanded; a request holds far fewer"
)
DEEP = "is nested more than 100 levels deep; a request never is"


def problems_of(exc: pytest.ExceptionInfo[SpecError]) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in exc.value.problems]


def refused(text: str, source: str = "f.yaml") -> list[tuple[str, str]]:
    """The problems of ``text``, which must be refused within half a second."""
    start = time.monotonic()
    with pytest.raises(SpecError) as exc:
        specs.parse_document(text, source)
    assert time.monotonic() - start < 0.5
    return problems_of(exc)


def billion_laughs(field: str, levels: int, width: int = 10, as_map: bool = True) -> str:
    """The fuzz run's documents: `l0: &l0 [lol, ...]`, `l1: &l1 [*l0, ...]`, ... under a field."""
    lines = ["TrainingJobName: bomb", f"{field}:"]
    for i in range(levels):
        items = ", ".join(["lol" if i == 0 else f"*l{i - 1}"] * width)
        lines.append(f"  l{i}: &l{i} [{items}]" if as_map else f"  - &l{i} [{items}]")
    return "\n".join(lines) + "\n"


@pytest.fixture(params=["libyaml", "pyyaml"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both parsers: libyaml's where PyYAML has it, PyYAML's own otherwise."""
    if request.param == "pyyaml":
        monkeypatch.setattr(yaml, "__with_libyaml__", False)
    elif not yaml.__with_libyaml__:
        pytest.skip("PyYAML without libyaml")
    return str(request.param)


# -- alias bombs --------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [9, 10, 12])
@pytest.mark.parametrize(
    ("field", "as_map"), [("HyperParameters", True), ("Tags", False), ("InputDataConfig", False)]
)
def test_an_alias_bomb_is_refused_at_once_where_it_passes_the_bound(
    parser: str, field: str, as_map: bool, levels: int
) -> None:
    [(path, message)] = refused(billion_laughs(field, levels, as_map=as_map))
    assert message == VALUES
    assert path == (f"{field}.l4[7]" if as_map else f"{field}[4][7]")  # where 100,000 passed


def test_an_alias_bomb_inside_a_definition(parser: str) -> None:
    text = "TrainingJobDefinition:\n  StaticHyperParameters:\n" + "".join(
        f"    l{i}: &l{i} [{', '.join(['lol' if i == 0 else f'*l{i - 1}'] * 10)}]\n"
        for i in range(9)
    )
    assert refused(text) == [("TrainingJobDefinition.StaticHyperParameters.l4[7]", VALUES)]


def test_aliases_used_more_than_10000_times(parser: str) -> None:
    text = "a: &a x\nTags: [" + ", ".join(["*a"] * 10_001) + "]\n"
    assert refused(text) == [
        (
            "Tags[10000]",
            "is alias number 10,001 of the YAML document; a request needs far fewer than 10,000",
        )
    ]


def test_aliases_of_a_long_string(parser: str) -> None:
    text = (
        f"s: &s {'z' * 100_000}\nHyperParameters: {{{', '.join(f'k{i}: *s' for i in range(50))}}}\n"
    )
    assert refused(text) == [
        (
            "HyperParameters.k40",
            "passes 4 MiB of text once the YAML aliases "
            "before it are expanded; a request holds far less",
        )
    ]


def test_aliases_that_nest_deeper_than_100_levels(parser: str) -> None:
    text = "a: &a " + "[" * 60 + "]" * 60 + "\nb: " + "[" * 40 + "*a" + "]" * 40 + "\n"
    assert refused(text) == [
        (
            "b" + "[0]" * 40,
            "is nested more than 100 levels deep once its YAML "
            "aliases are expanded; a request never is",
        )
    ]


def test_a_few_aliases_are_fine_and_each_use_is_a_value_of_its_own(parser: str) -> None:
    data = specs.parse_document(billion_laughs("HyperParameters", 4), "f.yaml")
    assert len(data["HyperParameters"]["l3"]) == 10
    assert data["HyperParameters"]["l3"][0] == data["HyperParameters"]["l2"]
    assert data["HyperParameters"]["l3"][0] is not data["HyperParameters"]["l2"]  # no shared lists
    data = specs.parse_document("a: &a {x: 1}\nb: *a\n", "f.yaml")
    data["a"]["x"] = 2
    assert data["b"] == {"x": 1}


# -- depth, size, numbers, text --------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_100_levels_pass_101_do_not(parser: str, fmt: str) -> None:
    def text(levels: int) -> str:  # the top-level mapping is level 1, "a" level 2
        inner = "[" * (levels - 2) + "1" + "]" * (levels - 2)
        return f'{{"a": {inner}}}' if fmt == "json" else f"a: {inner}\n"

    assert specs.parse_document(text(100), "f")["a"]
    assert refused(text(101)) == [("a" + "[0]" * 99, DEEP)]


def test_deeper_than_libyaml_goes() -> None:
    text = "a: " + "[" * 5000 + "]" * 5000
    [(path, message)] = refused(text)
    assert message.endswith(DEEP)
    assert path in ("f.yaml", "a" + "[0]" * 99)  # (libyaml stops at 1,000 levels: no path then)


def test_a_document_over_1_mib() -> None:
    assert refused("a: " + "x" * (1024 * 1024)) == [
        ("f.yaml", "is larger than 1 MiB (1,048,576 bytes), the most a request file may hold")
    ]
    assert refused("a: " + "é" * (512 * 1024)) != []  # bytes count, not characters
    exactly = "a: " + "x" * (1024 * 1024 - 4) + "\n"
    assert specs.parse_document(exactly, "f.yaml")["a"].startswith("x")


def test_a_request_file_over_1_mib_is_not_read_to_its_end(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_text('{"a": "' + "x" * (2 * 1024 * 1024) + '"}')
    for path in (big, Path("/dev/zero")):
        start = time.monotonic()
        with pytest.raises(SpecError) as exc:
            specs.load_spec(path)
        assert time.monotonic() - start < 0.5
        assert problems_of(exc) == [
            (str(path), "is larger than 1 MiB (1,048,576 bytes), the most a request file may hold")
        ]


def test_many_values_without_aliases() -> None:
    text = '{"Tags": [' + ", ".join(["0"] * 100_001) + "]}"
    assert refused(text) == [("Tags[99998]", "passes 100,000 values; a request holds far fewer")]


@pytest.mark.parametrize(
    "text",
    [
        "HyperParameters: {n: " + "9" * 5000 + "}\n",
        '{"HyperParameters": {"n": ' + "9" * 5000 + "}}",
    ],
)
def test_an_integer_too_long_to_read(text: str) -> None:
    assert refused(text) == [
        (
            "HyperParameters.n",
            "is an integer 5,000 characters long; a request's numbers are far shorter",
        )
    ]


def test_yaml_timestamps_stay_the_strings_they_are() -> None:
    data = specs.parse_document(
        "TrainingJobName: 2024-01-01\nb: 2001-02-30\nc: 2001-12-14t21:59:43.10-05:00\n", "f"
    )
    assert data == {
        "TrainingJobName": "2024-01-01",
        "b": "2001-02-30",
        "c": "2001-12-14t21:59:43.10-05:00",
    }


def test_a_value_yaml_cannot_build() -> None:
    assert refused("a: !!timestamp 2001-02-30\n") == [
        ("f.yaml", "not valid YAML: day is out of range for month")
    ]


def test_lone_surrogates_are_refused_with_their_paths(parser: str) -> None:
    half = "half of a UTF-16 surrogate pair"
    why = "no UTF-8 text can hold one: write the character itself"
    text = '{"a": "x\\ud800y", "b": {"c\\udc00": 1}, "ok": "\\ud83d\\ude00"}'
    assert refused(text, "f.json") == [
        ("a", f"holds '\\ud800', {half}; {why}"),
        ("b.c\\udc00", f"holds '\\udc00', {half} in its name; {why}"),
    ]
    assert refused('a: "\\uD800"\n') == [("a", f"holds '\\ud800', {half}; {why}")]
    assert specs.parse_document('{"ok": "\\ud83d\\ude00", "text": "\\\\ud800"}', "f") == {
        "ok": "😀",
        "text": "\\ud800",
    }


def test_yaml_errors_read_as_pyyaml_words_them_whichever_parser_ran(parser: str) -> None:
    assert refused("a: 1\n b: 2\n") == [
        ("f.yaml", "not valid YAML: line 2 column 3: mapping values are not allowed here")
    ]
    assert refused("a: *x\n") == [
        ("f.yaml", "not valid YAML: line 1 column 4: found undefined alias 'x'")
    ]


def test_the_bounds() -> None:
    assert documents.MAX_DOCUMENT_BYTES == 1024 * 1024
    assert (documents.MAX_DEPTH, documents.MAX_VALUES, documents.MAX_ALIASES) == (
        100,
        100_000,
        10_000,
    )
