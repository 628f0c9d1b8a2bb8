"""The pure core of SageMaker metric scraping.

A training job's ``AlgorithmSpecification.MetricDefinitions`` is a list of
``{"Name": ..., "Regex": ...}`` (at most 40; Name 1..255 characters, Regex 1..500
characters).  SageMaker applies every regex to every line the container writes to
stdout and stderr; where a regex matches, the FIRST capture group of its FIRST match
on that line is the metric's value.

This module has no I/O (runner.contract.loglines turns a log stream's bytes into lines):
:func:`compile_definitions` checks and compiles the definitions, and
:class:`MetricScraper` turns lines into :class:`MetricSample` values and keeps the
last value of each metric for ``FinalMetricDataList``.

Regexes are compiled once, by :mod:`runner.core.regex_engines`: with RE2 (linear time) when it
accepts them, else with the ``regex`` package and a time limit on each search; a regex that
runs past its limit on MAX_TIMEOUTS lines is dropped for the rest of the job, with a warning.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runner.core import regex_engines
from runner.core.problems import Problem, join_path
from runner.core.regex_engines import SEARCH_TIMEOUT, MetricPattern

DEFAULT_PATH = "AlgorithmSpecification.MetricDefinitions"
MAX_DEFINITIONS = 40
MAX_NAME_LENGTH = 255
MAX_REGEX_LENGTH = 500
#: CloudWatch PutMetricData rejects values outside -2**360 .. 2**360.
MAX_ABS_VALUE = 2.0**360
#: The service's log shipping writes a tab as ``#011`` (syslog octal escape).
TAB_ESCAPE = "#011"
#: After this many searches that ran past SEARCH_TIMEOUT, a regex is dropped.
MAX_TIMEOUTS = 3


@dataclass(frozen=True)
class MetricDefinition:
    """One compiled ``MetricDefinitions`` entry."""

    name: str
    pattern: MetricPattern

    @property
    def regex(self) -> str:
        """The regex as the user wrote it."""
        return self.pattern.pattern


@dataclass(frozen=True)
class MetricSample:
    """One value scraped from one log line; ``timestamp`` is epoch seconds."""

    name: str
    value: float
    timestamp: float


def compile_definitions(
    defs: list[dict[str, Any]], path: str = DEFAULT_PATH
) -> tuple[list[MetricDefinition], list[Problem]]:
    """Check and compile metric definitions; returns ``(definitions, problems)``.

    Problems (paths like ``AlgorithmSpecification.MetricDefinitions[2].Regex``): more
    than 40 definitions; an entry that is not a mapping; a missing, non-string, empty
    or too long Name or Regex; a Regex that does not compile (the message carries the
    compiler's reason); a Regex with no capture group; a Name used before.  Entries
    with problems are left out of the returned definitions (for a duplicate Name, the
    first one is kept); the caller should refuse the job when any problem is returned.
    """
    problems: list[Problem] = []
    if not isinstance(defs, list):
        return [], [Problem(path, "must be a list of {Name, Regex}")]
    if len(defs) > MAX_DEFINITIONS:
        problems.append(
            Problem(
                path, f"at most {MAX_DEFINITIONS} metric definitions are allowed, got {len(defs)}"
            )
        )
    compiled: list[MetricDefinition] = []
    first_index: dict[str, int] = {}
    for index, entry in enumerate(defs):
        item_path = join_path(path, index)
        if not isinstance(entry, dict):
            problems.append(Problem(item_path, "must be a mapping with Name and Regex"))
            continue
        name = _check_string(entry, "Name", MAX_NAME_LENGTH, item_path, problems)
        text = _check_string(entry, "Regex", MAX_REGEX_LENGTH, item_path, problems)
        if name is not None:
            if name in first_index:
                problems.append(
                    Problem(
                        join_path(item_path, "Name"),
                        f"duplicate metric name {name!r} "
                        f"(already used by {join_path(path, first_index[name])})",
                    )
                )
                name = None
            else:
                first_index[name] = index
        pattern = None if text is None else _compile(text, join_path(item_path, "Regex"), problems)
        if name is not None and pattern is not None:
            compiled.append(MetricDefinition(name, pattern))
    return compiled, problems


def _check_string(
    entry: dict[str, Any], key: str, limit: int, item_path: str, problems: list[Problem]
) -> str | None:
    field_path = join_path(item_path, key)
    value = entry.get(key)
    if value is None:
        problems.append(Problem(field_path, "is required"))
        return None
    if not isinstance(value, str):
        problems.append(Problem(field_path, f"must be a string, got {type(value).__name__}"))
        return None
    if not value:
        problems.append(Problem(field_path, "must not be empty"))
        return None
    if len(value) > limit:
        problems.append(
            Problem(field_path, f"must be at most {limit} characters, got {len(value)}")
        )
        return None
    return value


def _compile(text: str, field_path: str, problems: list[Problem]) -> MetricPattern | None:
    try:
        pattern = regex_engines.compile_metric_regex(text)
    except regex_engines.CompileError as exc:
        problems.append(Problem(field_path, f"does not compile: {exc}"))
        return None
    if pattern.groups < 1:
        problems.append(
            Problem(
                field_path,
                "has no capture group; the first group (...) captures the metric value, "
                "e.g. 'loss=(\\S+)'",
            )
        )
        return None
    return pattern


_SUSPICIOUS_AFTER = frozenset("dDsSwW.")


def suspicious_escapes(regex: str) -> str | None:
    """A hint when ``regex`` looks double-escaped (a common YAML/JSON mistake), else None.

    ``\\\\d`` in the regex itself (two backslash characters, then ``d``) matches a
    literal backslash followed by ``d``, which is almost never meant: it usually comes
    from writing ``"\\\\d"`` in a single-quoted/plain YAML scalar, where backslashes
    are not escapes.  Flags an escaped backslash followed by ``d s w D S W .``; the
    escapes are read in order, so ``\\\\\\d`` (a literal backslash, then ``\\d``) is
    not flagged.  Meant for validation warnings, not errors.
    """
    i = 0
    while i < len(regex) - 1:
        if regex[i] != "\\":
            i += 1
            continue
        if regex[i + 1] == "\\" and i + 2 < len(regex) and regex[i + 2] in _SUSPICIOUS_AFTER:
            found = regex[i : i + 3]
            meant = "\\" + regex[i + 2]
            return (
                f"{found!r} matches a literal backslash followed by {regex[i + 2]!r}; "
                f"did you mean {meant!r}? (backslashes are escaped only in double-quoted "
                f"YAML and in JSON; in plain or single-quoted YAML write a single backslash)"
            )
        i += 2
    return None


def definition_warnings(defs: list[dict[str, Any]], path: str = DEFAULT_PATH) -> list[Problem]:
    """Warnings (not errors) about the Regex of every entry in ``defs``, with paths: a regex
    that looks double-escaped (:func:`suspicious_escapes`), one that RE2 refuses (searched
    with a time limit, and dropped after slow lines), and one whose shape takes exponential
    time in a backtracking engine such as the cloud's (smlocal searches it with RE2)."""
    warnings: list[Problem] = []
    if not isinstance(defs, list):
        return warnings
    for index, entry in enumerate(defs):
        text = entry.get("Regex") if isinstance(entry, dict) else None
        if not isinstance(text, str) or not text:
            continue
        field_path = join_path(join_path(path, index), "Regex")
        for hint in _regex_hints(text):
            warnings.append(Problem(field_path, hint))
    return warnings


def request_warnings(request: dict[str, Any]) -> list[Problem]:
    """:func:`definition_warnings` for every MetricDefinitions list of a CreateTrainingJob
    or CreateHyperParameterTuningJob request, with the request's field paths."""
    places: list[tuple[str, Any]] = []
    if isinstance(request, dict):
        places.append(("", request))
        single = request.get("TrainingJobDefinition")
        if isinstance(single, dict):
            places.append(("TrainingJobDefinition", single))
        several = request.get("TrainingJobDefinitions")
        for index, definition in enumerate(several if isinstance(several, list) else []):
            places.append((join_path("TrainingJobDefinitions", index), definition))
    warnings: list[Problem] = []
    for prefix, body in places:
        algo = body.get("AlgorithmSpecification") if isinstance(body, dict) else None
        defs = algo.get("MetricDefinitions") if isinstance(algo, dict) else None
        if isinstance(defs, list):
            warnings += definition_warnings(defs, join_path(prefix, DEFAULT_PATH))
    return warnings


def _regex_hints(text: str) -> list[str]:
    hints: list[str] = []
    escapes = suspicious_escapes(text)
    if escapes is not None:
        hints.append(escapes)
    risk = regex_engines.backtracking_risk(text)
    refusal = regex_engines.re2_refusal(text)
    if refusal is not None:
        hints.append(
            f"RE2 refuses it ({refusal}), so it is searched with a backtracking engine, at most "
            f"{SEARCH_TIMEOUT:g} s a line, and dropped after {MAX_TIMEOUTS} slow lines"
            + (f"; its worst case is super-linear ({risk})" if risk else "")
        )
    elif risk is not None:
        hints.append(
            f"its worst case is super-linear in a backtracking engine ({risk}): a long line "
            f"can stall metric scraping where such an engine is used; smlocal searches it "
            f"with RE2 in linear time"
        )
    return hints


_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NONFINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


def parse_value(text: str) -> float | None:
    """The numeric value of a captured string, or None when it is not a number.

    Rules: surrounding whitespace is stripped, then any trailing ``;``/``,`` (so
    ``loss=(\\S+)`` on ``loss=0.5;`` gives 0.5), then whitespace again.  Accepted:
    plain ASCII decimals with optional sign, fraction and exponent (``1e-3``,
    ``-2.5E+04``, ``+3.``, ``.5``).  ``nan``, ``inf``, ``-inf``, ``Infinity`` (any case)
    return the non-finite float, and so do numbers too large for a double (``1e999``):
    the caller decides (:class:`MetricScraper` drops them).  None for everything
    else: empty text, ``abc``, ``1.2.3``, thousands separators (``1,234``),
    underscores (``1_000``), hex, Java suffixes (``1.5f``), non-ASCII digits.
    """
    stripped = text.strip().rstrip(";,").rstrip()
    if _NUMBER.fullmatch(stripped) or _NONFINITE.fullmatch(stripped):
        return float(stripped)
    return None


def _may_match(definition: MetricDefinition, text: str, escaped: str | None) -> bool:
    literal = definition.pattern.literal
    return literal is None or literal in text or (escaped is not None and literal in escaped)


class MetricScraper:
    """Applies compiled definitions to log lines; keeps the last value of each metric.

    Each definition is searched in each line (``search``: anywhere in the line, first
    match only, its first group is the value), so one line gives at most one sample
    per definition.  When a line contains a tab and a definition does not match it,
    the definition is tried again on the line with each tab written as ``#011``, as
    the service's log shipping does (built-in algorithms' regexes expect ``#011``).

    A capture that is missing (its group did not take part), empty, not a number,
    non-finite (nan/inf; CloudWatch cannot store them) or outside CloudWatch's range
    (``abs(v) > 2**360``) gives no sample and is counted in :attr:`rejected`, keyed
    by metric name; non-finite ones are also counted in :attr:`nonfinite` (e.g. for a
    tuning job whose objective diverged).  :attr:`first_rejected` keeps the first
    rejected capture text of each metric (cut to 100 characters) for messages.
    Not thread-safe: feed it from one thread at a time.
    """

    def __init__(
        self, definitions: list[MetricDefinition], warn: Callable[[str], None] | None = None
    ) -> None:
        self._warn = warn
        self.definitions: tuple[MetricDefinition, ...] = tuple(definitions)
        self.rejected: Counter[str] = Counter()
        self.nonfinite: Counter[str] = Counter()
        self.first_rejected: dict[str, str] = {}
        self.timeouts: Counter[str] = Counter()
        self.disabled: dict[str, str] = {}  # metric name -> why it is no longer scraped
        self._last: dict[str, MetricSample] = {}

    def feed_lines(self, lines: list[str], timestamps: float | list[float]) -> list[MetricSample]:
        """Scrape lines that arrived together (``timestamps``: one for all, or one a line): a
        definition whose required literal is in none of them is not searched at all (one
        ``in`` over the batch instead of one a line)."""
        if not self.definitions:
            return []
        stamps = timestamps if isinstance(timestamps, list) else [timestamps] * len(lines)
        if len(lines) == 1:
            return self.feed(lines[0], stamps[0])
        text = "\n".join(lines)
        escaped = text.replace("\t", TAB_ESCAPE) if "\t" in text else None
        active = tuple(d for d in self.definitions if _may_match(d, text, escaped))
        if not active:
            return []
        samples: list[MetricSample] = []
        for line, stamp in zip(lines, stamps, strict=True):
            samples += self.feed(line, stamp, active)
        return samples

    def feed(
        self, line: str, timestamp: float, definitions: tuple[MetricDefinition, ...] | None = None
    ) -> list[MetricSample]:
        """Scrape one log line (without its line end); returns the samples found."""
        samples: list[MetricSample] = []
        tabbed = "\t" in line
        escaped = line.replace("\t", TAB_ESCAPE) if tabbed else line
        disabled = self.disabled
        for definition in self.definitions if definitions is None else definitions:
            literal = definition.pattern.literal  # the common case: not in the line, no search
            if (literal is not None and literal not in line
                    and (not tabbed or literal not in escaped)):
                continue
            if disabled and definition.name in disabled:
                continue
            text = self._search(definition, line)
            if text is None and tabbed:
                text = self._search(definition, escaped)
            if text is None:
                continue
            value = parse_value(text)
            if value is None or not math.isfinite(value) or abs(value) > MAX_ABS_VALUE:
                self._reject(definition.name, text, value)
                continue
            sample = MetricSample(definition.name, value, timestamp)
            self._last[definition.name] = sample
            samples.append(sample)
        return samples

    def _search(self, definition: MetricDefinition, line: str) -> str | None:
        """The definition's capture in ``line`` (None: no match).  A search that runs past
        SEARCH_TIMEOUT (a backtracking regex) finds nothing; after MAX_TIMEOUTS such lines
        the definition is dropped, with one warning."""
        try:
            return definition.pattern.capture(line)
        except TimeoutError:
            self.timeouts[definition.name] += 1
            if self.timeouts[definition.name] >= MAX_TIMEOUTS:
                why = f"its regex took over {SEARCH_TIMEOUT:g} s on {MAX_TIMEOUTS} lines"
                self.disabled[definition.name] = why
                if self._warn is not None:
                    self._warn(f"metric {definition.name!r} is no longer scraped: {why}")
            return None

    def _reject(self, name: str, text: str, value: float | None) -> None:
        self.rejected[name] += 1
        if value is not None and not math.isfinite(value):
            self.nonfinite[name] += 1
        self.first_rejected.setdefault(name, text[:100])

    def last(self, name: str) -> MetricSample | None:
        """The last accepted sample of metric ``name``, or None if none was seen."""
        return self._last.get(name)
