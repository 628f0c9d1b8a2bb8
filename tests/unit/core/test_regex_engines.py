"""Unit tests for runner.core.regex_engines: which engine searches a regex, required literals and
the shapes that backtrack (no Docker)."""

from __future__ import annotations

import time

import pytest

from runner.core.regex_engines import (
    CompileError,
    backtracking_risk,
    compile_metric_regex,
    re2_refusal,
    required_literal,
)


@pytest.mark.parametrize(("regex", "engine"), [
    (r"loss=(\S+)", "re2"), (r"(?<v>[0-9.]+) a", "re2"), (r"\p{L}+=(\d+)", "re2"),
    (r"(?i)LOSS=(\S+)", "re2"), (r"(a|aa)+$", "re2"),
    (r"(a)\1", "regex"), (r"(?=x)(\d+)", "regex"), (r"a++(b)", "regex"), (r"x(\d+)\Z", "regex"),
])
def test_re2_searches_what_it_accepts_the_backtracking_engine_the_rest(
    regex: str, engine: str
) -> None:
    assert compile_metric_regex(regex).engine == engine
    assert (re2_refusal(regex) is None) == (engine == "re2")


def test_a_regex_no_engine_reads_is_a_compile_error() -> None:
    with pytest.raises(CompileError, match="missing|unterminated|expected"):
        compile_metric_regex("loss=([0-9")


@pytest.mark.parametrize("regex", [r"loss=(\S+)", r"(?=l)loss=(\S+)"])
def test_capture_gives_the_first_group(regex: str) -> None:
    pattern = compile_metric_regex(regex)
    assert pattern.capture("epoch 3 loss=0.25 loss=9") == "0.25"
    assert pattern.capture("no match here") is None
    assert pattern.capture("lóss=1 ünïcode loss=ü7") == "ü7"


def test_a_group_that_took_no_part_captures_empty_text() -> None:
    for regex in (r"x(a)?y", r"(?=x)x(a)?y"):
        assert compile_metric_regex(regex).capture("xy") == ""


@pytest.mark.parametrize(("regex", "literal"), [
    (r"loss=(\S+)", "loss="), (r"epoch (\d+).*train_loss: (\S+)", "train_loss: "),
    (r"(val)_loss=(\S+)", "val_loss="), (r"a|loss=(\S+)", None), (r"(?i)loss=(\S+)", None),
    (r"\p{L}oss=(\S+)", None), (r"(\d+)", None), (r"x?(\d+)", None), (r"(?:ab)+(\d)", None),
    (r"a\.b=(\d)", "a.b="), (r"(?<n>x)=(\d)", None),
])
def test_required_literals_are_found_conservatively(regex: str, literal: str | None) -> None:
    assert required_literal(regex) == literal


@pytest.mark.parametrize(("regex", "risky"), [
    (r"loss=(\S+)", False), (r"train_loss=([0-9.e+-]+)", False), (r"(\w+)?", False),
    (r"(a|b)+", False), (r"Epoch (\d+).*?loss: ([-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?)", False),
    (r"(\S+)+x", True), (r"(.*?,){11}P", True), (r"^(a+)+b", True), (r"(?:\d+\.?)+x", True),
    (r"(a|aa)+$", True), (r"(x+x+)+y", True), (r"(ab|cd)*(\d)", True),
])
def test_backtracking_risk_finds_repeats_of_repeats_and_of_alternatives(
    regex: str, risky: bool
) -> None:
    assert (backtracking_risk(regex) is not None) is risky


def test_the_issue_regex_on_the_issue_line_is_quick() -> None:
    pattern = compile_metric_regex(r"(a|aa)+$")
    started = time.monotonic()
    assert pattern.capture("a" * 60 + "!") is None
    assert pattern.capture("a" * 100_000 + "!") is None
    assert time.monotonic() - started < 0.5
