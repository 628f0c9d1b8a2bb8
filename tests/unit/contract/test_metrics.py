"""Unit tests for runner.contract.metrics: no Docker, no network."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from runner.contract.loglines import LineSplitter
from runner.contract.metrics import (
    SEARCH_TIMEOUT,
    MetricDefinition,
    MetricSample,
    MetricScraper,
    compile_definitions,
    definition_warnings,
    parse_value,
    request_warnings,
    suspicious_escapes,
)
from runner.core.problems import Problem
from runner.shapes import status

P = "AlgorithmSpecification.MetricDefinitions"


def scraper(*pairs: tuple[str, str]) -> MetricScraper:
    defs, problems = compile_definitions([{"Name": n, "Regex": r} for n, r in pairs])
    assert problems == []
    return MetricScraper(defs)


def values(samples: list[MetricSample]) -> dict[str, float]:
    return {s.name: s.value for s in samples}


# --- compile_definitions ---------------------------------------------------------


def test_compile_ok_keeps_order_and_uses_regex_engine() -> None:
    defs, problems = compile_definitions(
        [{"Name": "b", "Regex": "b=(\\S+)"}, {"Name": "a", "Regex": "(?<v>[0-9.]+) a"}]
    )
    assert problems == []
    assert [d.name for d in defs] == ["b", "a"]
    assert isinstance(defs[0], MetricDefinition)
    assert defs[0].regex == "b=(\\S+)"
    assert defs[1].pattern.engine == "re2"  # RE2 reads the Java-style named group too


def test_compile_problems_have_exact_paths() -> None:
    entries: list[Any] = [
        {"Name": "ok", "Regex": "ok=(\\S+)"},
        {"Name": "bad", "Regex": "loss=([0-9"},
        {"Name": "nogroup", "Regex": "loss=\\S+"},
        {"Name": "ok", "Regex": "other=(\\S+)"},
        {"Regex": "x=(\\S+)"},
        {"Name": "", "Regex": 5},
        "not a mapping",
        {"Name": "n" * 256, "Regex": "(" + "a" * 499 + ")"},
    ]
    defs, problems = compile_definitions(entries)
    assert [d.name for d in defs] == ["ok"]
    paths = [p.path for p in problems]
    assert paths == [
        f"{P}[1].Regex",
        f"{P}[2].Regex",
        f"{P}[3].Name",
        f"{P}[4].Name",
        f"{P}[5].Name",
        f"{P}[5].Regex",
        f"{P}[6]",
        f"{P}[7].Name",
        f"{P}[7].Regex",
    ]
    by_path = {p.path: p.message for p in problems}
    assert by_path[f"{P}[1].Regex"].startswith("does not compile: ")
    assert len(by_path[f"{P}[1].Regex"]) > len("does not compile: ")  # the compiler's reason
    assert "no capture group" in by_path[f"{P}[2].Regex"]
    assert "duplicate metric name 'ok'" in by_path[f"{P}[3].Name"]
    assert f"{P}[0]" in by_path[f"{P}[3].Name"]
    assert by_path[f"{P}[4].Name"] == "is required"
    assert "at most 255" in by_path[f"{P}[7].Name"]
    assert "at most 500" in by_path[f"{P}[7].Regex"]


def test_compile_limits_name_and_regex_lengths_inclusive() -> None:
    defs, problems = compile_definitions([{"Name": "n" * 255, "Regex": "(" + "a" * 498 + ")"}])
    assert problems == [] and len(defs) == 1


def test_compile_more_than_40_definitions() -> None:
    entries: list[dict[str, Any]] = [{"Name": f"m{i}", "Regex": f"m{i}=(\\S+)"} for i in range(41)]
    _, problems = compile_definitions(entries)
    assert problems == [Problem(P, "at most 40 metric definitions are allowed, got 41")]
    _, problems = compile_definitions(entries[:40])
    assert problems == []


def test_compile_custom_path_and_not_a_list() -> None:
    _, problems = compile_definitions([{"Name": "x", "Regex": "x"}], path="Def.Metrics")
    assert [p.path for p in problems] == ["Def.Metrics[0].Regex"]
    _, problems = compile_definitions({"Name": "x"}, path="Def.Metrics")  # type: ignore[arg-type]
    assert [p.path for p in problems] == ["Def.Metrics"]


# --- the AWS guide's examples ------------------------------------------------------

GUIDE_LINE = (
    "GAN_loss=0.138318; Scaled_reg=2.654134; disc:[-0.017371,0.102429] real 0.000000 "
    "disc-combined=0.000000; disc_train_loss=1.374587; Loss = 16.020744;"
)


def test_guide_example_line() -> None:
    s = scraper(
        ("gan_loss", "GAN_loss=(.*?);"),
        ("disc_combined", "disc-combined=(.*?);"),
        ("disc_train_loss", "disc_train_loss=(.*?);"),
        ("loss", "Loss = (.*?);"),
    )
    samples = s.feed(GUIDE_LINE, 1000.0)
    assert [x.name for x in samples] == ["gan_loss", "disc_combined", "disc_train_loss", "loss"]
    assert values(samples) == {
        "gan_loss": 0.138318,
        "disc_combined": 0.0,
        "disc_train_loss": 1.374587,
        "loss": 16.020744,
    }
    assert all(x.timestamp == 1000.0 for x in samples)
    assert not s.rejected


def test_ntm_style_line() -> None:
    s = scraper(("validation:total_loss", "validation total_loss <loss>=(\\S+)"))
    line = "#quality_metric: host=algo-1, epoch=3, validation total_loss <loss>=2.5"
    assert s.feed(line, 1.0) == [MetricSample("validation:total_loss", 2.5, 1.0)]


def test_first_match_on_a_line_wins() -> None:
    s = scraper(("loss", "loss=([0-9.]+)"))
    assert values(s.feed("loss=1.0 loss=2.0", 0.0)) == {"loss": 1.0}


def test_tab_line_matched_through_011() -> None:
    s = scraper(("acc", "accuracy#011(\\S+)"), ("loss", "loss=(\\S+)"))
    assert values(s.feed("epoch 1\taccuracy\t0.91", 0.0)) == {"acc": 0.91}
    # A raw match is preferred and needs no rewriting.
    assert values(s.feed("loss=0.5\tdone", 0.0)) == {"loss": 0.5}
    # No tab, no rewriting: the #011 form is literal text only on the service.
    assert s.feed("accuracy 0.91", 0.0) == []


# --- values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1e-3", 1e-3),
        ("-2.5E+04", -25000.0),
        ("+3.", 3.0),
        (".5", 0.5),
        ("42", 42.0),
        ("-0", 0.0),
        ("  0.25 \t", 0.25),
        ("0.5;", 0.5),
        ("0.5,", 0.5),
        ("0.5 ;", 0.5),
    ],
)
def test_parse_value_numbers(text: str, expected: float) -> None:
    assert parse_value(text) == expected


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "Infinity", "-Infinity", "1e999"])
def test_parse_value_nonfinite(text: str) -> None:
    value = parse_value(text)
    assert value is not None and not math.isfinite(value)


@pytest.mark.parametrize(
    "text",
    ["", "   ", ";", "abc", "1.2.3", "1,234", "1,234.5", "1_000", "0x1p3", "1.5f", "١٢", "e5", "."],
)
def test_parse_value_rejects(text: str) -> None:
    assert parse_value(text) is None


def test_scraper_rejects_and_counts_awkward_values() -> None:
    s = scraper(("loss", "loss=(\\S*)"))
    lines = ["loss=nan", "loss=NaN", "loss=inf", "loss=-inf", "loss=Infinity"]
    for line in lines:
        assert s.feed(line, 0.0) == []
    assert s.nonfinite["loss"] == 5
    for line in ["loss=", "loss=abc", "loss=1.2.3", "loss=1,234", "loss=1e200"]:
        assert s.feed(line, 0.0) == []
    assert s.rejected["loss"] == 10
    assert s.nonfinite["loss"] == 5  # empty / garbage / out of range are not "non-finite"
    assert s.first_rejected == {"loss": "nan"}
    assert s.last("loss") is None
    assert values(s.feed("loss=0.5;", 0.0)) == {"loss": 0.5}


def test_lazy_regex_with_trailing_separator() -> None:
    s = scraper(("loss", "loss=(.*?);"), ("acc", "acc=(\\S+)"))
    assert values(s.feed("loss=0.5; acc=0.9, lr=0.1", 0.0)) == {"loss": 0.5, "acc": 0.9}


def test_group_that_did_not_take_part_is_rejected() -> None:
    s = scraper(("loss", "loss=([0-9.]+)|loss unknown"))
    assert s.feed("loss unknown", 0.0) == []
    assert s.rejected["loss"] == 1 and s.first_rejected["loss"] == ""


# --- final metrics ----------------------------------------------------------------


def test_final_metrics_last_value_definition_order_only_seen() -> None:
    s = scraper(("a", "a=(\\S+)"), ("b", "b=(\\S+)"), ("never", "never=(\\S+)"))
    series: dict[str, list[tuple[float, float]]] = {}
    for line, ts in (("b=1", 10.0), ("a=1", 11.0), ("b=2 a=nan", 12.5), ("nothing here", 13.0)):
        for sample in s.feed(line, ts):
            series.setdefault(sample.name, []).append((sample.timestamp, sample.value))
    assert status.final_metric_data(s, series) == [
        {"MetricName": "a", "Value": 1.0, "Timestamp": 11.0},
        {"MetricName": "b", "Value": 2.0, "Timestamp": 12.5},
    ]
    assert s.last("b") == MetricSample("b", 2.0, 12.5)
    assert s.last("never") is None


def test_a_regex_that_backtracks_without_end_is_cut_short_then_dropped() -> None:
    # the lookahead makes RE2 refuse it: the backtracking engine searches it, with a limit
    defs, problems = compile_definitions(
        [{"Name": "slow", "Regex": "(?=a)(a|aa)+$"}, {"Name": "loss", "Regex": "loss=(\\S+)"}]
    )
    assert problems == [] and defs[0].pattern.engine == "regex"
    warned: list[str] = []
    s = MetricScraper(defs, warn=warned.append)
    line = "loss=0.5 " + "a" * 60 + "!"
    started = time.monotonic()
    for _ in range(5):
        assert values(s.feed(line, 0.0)) == {"loss": 0.5}  # the other metrics go on
    assert time.monotonic() - started < 3 * SEARCH_TIMEOUT + 2  # three timeouts, then skipped
    assert s.timeouts["slow"] == 3 and "slow" in s.disabled
    assert warned == ["metric 'slow' is no longer scraped: its regex took over 0.2 s on 3 lines"]


@pytest.mark.parametrize("regex", ["(.*?,){11}P", "(a|aa)+$", "(x+x+)+y", "(\\w|\\d)*x", "^(a+)+$"])
def test_catastrophic_shapes_take_linear_time_with_re2(regex: str) -> None:
    s = scraper(("bad", regex), ("m", "m=(\\S+)"))
    assert s.definitions[0].pattern.engine == "re2"
    started = time.monotonic()
    for line in ("a" * 60 + "!", "1," * 5000 + "x", "x" * 100_000, "a" * 30 + "m=2"):
        s.feed(line, 0.0)
    assert values(s.feed("m=1.5", 0.0)) == {"m": 1.5}
    assert time.monotonic() - started < 1.0
    assert not s.disabled


def test_many_lines() -> None:
    s = scraper(("loss", "loss=(.*?);"), ("acc", "acc=(\\S+)"), ("lr", "lr: (\\S+)"))
    count = 0
    for i in range(200_000):
        line = f"[step {i}] loss={i / 1000};" if i % 2 else f"[step {i}] info: nothing to see"
        count += len(s.feed(line, float(i)))
    assert count == 100_000
    assert s.last("loss") == MetricSample("loss", 199.999, 199_999.0)


# --- suspicious escapes -----------------------------------------------------------


@pytest.mark.parametrize("regex", ["loss=(\\\\d+)", "loss=(\\\\S+)", "a\\\\w", "x=(\\\\.5)"])
def test_suspicious_escapes_flags_double_backslash(regex: str) -> None:
    hint = suspicious_escapes(regex)
    assert hint is not None and "literal backslash" in hint


@pytest.mark.parametrize("regex", ["loss=(\\d+)", "a\\\\\\d", "path\\\\x", "\\.(\\S+)", "x\\"])
def test_suspicious_escapes_quiet_otherwise(regex: str) -> None:
    assert suspicious_escapes(regex) is None


def test_definition_warnings_paths() -> None:
    entries: list[Any] = [
        {"Name": "a", "Regex": "a=(\\S+)"},
        {"Name": "b", "Regex": "b=(\\\\d+)"},
        "junk",
    ]
    warnings = definition_warnings(entries)
    assert [w.path for w in warnings] == [f"{P}[1].Regex"]


def test_splitter_feeds_scraper() -> None:
    s = scraper(("loss", "loss=(\\S+)"))
    splitter = LineSplitter()
    found: list[float] = []
    for chunk in (b"epoch 1 lo", b"ss=0.7\r\nepoch 2 loss=0.", b"6\n", b"epoch 3 loss=0.5"):
        for line in splitter.feed(chunk):
            found += [x.value for x in s.feed(line, 0.0)]
    for line in splitter.flush():
        found += [x.value for x in s.feed(line, 0.0)]
    assert found == [0.7, 0.6, 0.5]


def test_batches_skip_definitions_whose_literal_is_absent_and_keep_tab_escapes() -> None:
    s = scraper(("loss", "loss=(\\S+)"), ("acc", "acc#011(\\S+)"), ("any", "^(\\d+)$"))
    lines = ["epoch 1", "loss=0.5", "acc\t0.9", "42", "loss=0.25"]
    got = [(x.name, x.value) for x in s.feed_lines(lines, 3.0)]
    assert got == [("loss", 0.5), ("acc", 0.9), ("any", 42.0), ("loss", 0.25)]
    one_by_one = scraper(("loss", "loss=(\\S+)"), ("acc", "acc#011(\\S+)"), ("any", "^(\\d+)$"))
    assert [(x.name, x.value) for line in lines for x in one_by_one.feed(line, 3.0)] == got
    assert s.feed_lines(["nothing", "here"], 1.0) == []


def test_warnings_name_regexes_re2_refuses_and_shapes_that_backtrack() -> None:
    entries: list[Any] = [
        {"Name": "ok", "Regex": "ok=(\\S+)"},
        {"Name": "nested", "Regex": "(a|aa)+$"},
        {"Name": "look", "Regex": "(?=x)x=(\\d+)"},
    ]
    warnings = {w.path: w.message for w in definition_warnings(entries)}
    assert sorted(warnings) == [f"{P}[1].Regex", f"{P}[2].Regex"]
    assert "super-linear in a backtracking engine" in warnings[f"{P}[1].Regex"]
    assert warnings[f"{P}[2].Regex"].startswith("RE2 refuses it (invalid perl operator: (?=)")


def test_request_warnings_find_every_definition_list() -> None:
    bad = {"AlgorithmSpecification": {"MetricDefinitions": [{"Name": "m", "Regex": "(x+x+)+y"}]}}
    assert [w.path for w in request_warnings(bad)] == [f"{P}[0].Regex"]
    tuning = {"TrainingJobDefinition": bad, "TrainingJobDefinitions": [{}, bad]}
    assert [w.path for w in request_warnings(tuning)] == [
        f"TrainingJobDefinition.{P}[0].Regex", f"TrainingJobDefinitions[1].{P}[0].Regex",
    ]
