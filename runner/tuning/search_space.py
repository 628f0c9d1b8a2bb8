"""The search space of a tuning job: ``ParameterRanges`` parsed into typed parameters.

Every parameter maps onto the unit interval under its scaling (its *unit* coordinate), which
is how configurations are sampled; the *encoding* that surrogate models see is the same for
numeric parameters and one-hot (one dimension per value) for categorical ones, so a
configuration becomes a point of the unit hypercube ``[0, 1]^dims``. The parameters
themselves (scalings, integer cells, ``Auto``) are in ``runner.tuning.search_parameters``.

Validation follows the service: ``MinValue < MaxValue`` strictly (SageMaker rejects a
single-value range), at most 30 ranges of each kind, 1 to 30 unique values per categorical
range, names unique across all kinds.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from runner.core.problems import Problem, join_path
from runner.tuning.search_parameters import (
    AUTO_LOG_RATIO,
    BoolArray,
    CategoricalParameter,
    FloatArray,
    NumericParameter,
    Parameter,
    Scaling,
    resolve_auto,
)
from runner.tuning.trials import Config, Value

__all__ = [
    "AUTO_LOG_RATIO",
    "CategoricalParameter",
    "NumericParameter",
    "Parameter",
    "Scaling",
    "SearchSpace",
    "parse_ranges",
]

MAX_RANGES_PER_KIND = 30
MAX_CATEGORICAL_VALUES = 30
KINDS = ("IntegerParameterRanges", "ContinuousParameterRanges", "CategoricalParameterRanges")
_INTEGER = re.compile(r"[+-]?[0-9]+")
# Values are sampled as floats: beyond 2**53 not every integer has one, so a range's bounds
# could not be kept exactly.
MAX_INTEGER = 2**53


@dataclass(frozen=True)
class SearchSpace:
    """Typed parameters in request order (integer, continuous, then categorical ranges)."""

    parameters: tuple[Parameter, ...]

    def __post_init__(self) -> None:
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate parameter names in {names}")

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def dims(self) -> int:
        """Width of the encoding."""
        return sum(p.width for p in self.parameters)

    @property
    def is_categorical_only(self) -> bool:
        return bool(self.parameters) and all(
            isinstance(p, CategoricalParameter) for p in self.parameters
        )

    @property
    def size(self) -> int | None:
        """Number of grid combinations (categorical-only spaces), else None."""
        return self.cardinality if self.is_categorical_only else None

    @property
    def cardinality(self) -> int | None:
        """Number of distinct configurations when finite (no continuous range), else None."""
        total = 1
        for p in self.parameters:
            if isinstance(p, CategoricalParameter):
                total *= len(p.values)
            elif p.integer:
                total *= int(p.maximum - p.minimum) + 1
            else:
                return None
        return total

    @property
    def discrete_dims(self) -> BoolArray:
        """Which encoded dimensions belong to integer or categorical parameters."""
        return np.concatenate(
            [
                np.full(p.width, isinstance(p, CategoricalParameter) or p.integer)
                for p in self.parameters
            ]
        ).astype(np.bool_)

    @property
    def categorical_dims(self) -> BoolArray:
        """Which encoded dimensions belong to categorical parameters (their one-hot blocks)."""
        return np.concatenate(
            [np.full(p.width, isinstance(p, CategoricalParameter)) for p in self.parameters]
        ).astype(np.bool_)

    def _slices(self) -> list[slice]:
        edges = np.cumsum([0] + [p.width for p in self.parameters])
        return [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]

    # --- configurations ---------------------------------------------------------------

    def from_unit(self, u: Sequence[float] | FloatArray) -> Config:
        """The configuration at per-parameter unit coordinates ``u`` (one per parameter)."""
        config: Config = {}
        for p, ui in zip(self.parameters, u, strict=True):
            if isinstance(p, CategoricalParameter):
                config[p.name] = p.typed_from_unit(float(ui))
            else:
                config[p.name] = p.typed(float(p.values_from_unit(np.array([float(ui)]))[0]))
        return config

    def sample(self, rng: np.random.Generator) -> Config:
        """One draw, uniform under each parameter's scaling."""
        return self.from_unit(rng.random(len(self.parameters)))

    def grid(self) -> list[Config]:
        """Every combination of a categorical-only space; the last range varies fastest."""
        if not self.is_categorical_only:
            raise ValueError("a grid needs a space of categorical ranges only")
        values = [p.values for p in self.parameters if isinstance(p, CategoricalParameter)]
        return [dict(zip(self.names, combo, strict=True)) for combo in itertools.product(*values)]

    def contains(self, config: Mapping[str, Value]) -> bool:
        return set(config) == set(self.names) and all(
            p.contains(config[p.name]) for p in self.parameters
        )

    # --- the unit hypercube -----------------------------------------------------------

    def encode(self, config: Mapping[str, Value]) -> FloatArray:
        """The point of ``[0, 1]^dims`` for ``config`` (values outside a range are clipped)."""
        return np.concatenate([p.encode_value(config[p.name]) for p in self.parameters])

    def encode_many(self, configs: Sequence[Mapping[str, Value]]) -> FloatArray:
        """``encode`` of every configuration, as rows (vectorised per parameter)."""
        blocks = []
        for p in self.parameters:
            column = [c[p.name] for c in configs]
            if isinstance(p, CategoricalParameter):
                block = np.zeros((len(configs), p.width))
                block[np.arange(len(configs)), [p.values.index(str(v)) for v in column]] = 1.0
            else:
                block = p.unit_from_values(np.array(column, dtype=np.float64))[:, None]
            blocks.append(block)
        return np.concatenate(blocks, axis=1) if blocks else np.zeros((len(configs), 0))

    def decode(self, x: FloatArray) -> Config:
        """The configuration nearest to an encoded point: integers rounded, values clipped,
        the largest one-hot coordinate wins."""
        row = np.asarray(x, dtype=np.float64).reshape(1, -1)
        return {
            p.name: p.decode_block(row[:, s])
            for p, s in zip(self.parameters, self._slices(), strict=True)
        }

    def encode_unit(self, u: FloatArray) -> FloatArray:
        """Encoded points (m, dims) of per-parameter unit coordinates ``u`` (m, parameters)."""
        return np.concatenate(
            [p.encode_block(u[:, i]) for i, p in enumerate(self.parameters)], axis=1
        )

    def snap(self, x: FloatArray) -> FloatArray:
        """``encode(decode(x))`` for every row of ``x`` (m, dims), vectorised."""
        return np.concatenate(
            [p.snap_block(x[:, s]) for p, s in zip(self.parameters, self._slices(), strict=True)],
            axis=1,
        )

    # --- hyperparameter strings ---------------------------------------------------------

    def format(self, config: Mapping[str, Value]) -> dict[str, str]:
        """Hyperparameter strings: integers ``"12"``, floats shortest round-trip (``"1e-05"``)."""
        return {p.name: p.format(config[p.name]) for p in self.parameters}

    def parse(self, hyperparameters: Mapping[str, str]) -> Config:
        """Inverse of ``format``; other keys are ignored, values are not range-checked (use
        ``contains``). Raises ValueError for a missing or malformed value."""
        config: Config = {}
        for p in self.parameters:
            if p.name not in hyperparameters:
                raise ValueError(f"hyperparameter {p.name!r} is missing")
            config[p.name] = p.parse(str(hyperparameters[p.name]))
        return config

    def key(self, config: Mapping[str, Value]) -> tuple[str, ...]:
        """A hashable identity of a configuration (its formatted values)."""
        return tuple(p.format(config[p.name]) for p in self.parameters)


# --- parsing ParameterRanges ----------------------------------------------------------


def parse_ranges(ranges: object, path: str) -> tuple[SearchSpace | None, list[Problem]]:
    """The search space of ``HyperParameterTuningJobConfig.ParameterRanges`` (``path`` names it
    in problems), or None and every problem found."""
    if not isinstance(ranges, Mapping):
        return None, [Problem(path, "must be an object of parameter ranges")]
    problems: list[Problem] = []
    for key in ranges:
        if key == "AutoParameters":
            problems.append(
                Problem(
                    join_path(path, key), "Autotune is not supported locally; give explicit ranges"
                )
            )
        elif key not in KINDS:
            problems.append(
                Problem(join_path(path, key), f"unknown field; expected one of {', '.join(KINDS)}")
            )
    parameters: list[Parameter] = []
    seen: dict[str, str] = {}
    for kind in KINDS:
        entries = ranges.get(kind)
        kind_path = join_path(path, kind)
        if entries is None:
            continue
        if not isinstance(entries, list):
            problems.append(Problem(kind_path, "must be a list"))
            continue
        if len(entries) > MAX_RANGES_PER_KIND:
            problems.append(
                Problem(kind_path, f"at most {MAX_RANGES_PER_KIND} ranges, got {len(entries)}")
            )
        for i, entry in enumerate(entries):
            entry_path = join_path(kind_path, i)
            if not isinstance(entry, Mapping):
                problems.append(Problem(entry_path, "must be an object"))
                continue
            name = _name(entry, entry_path, seen, problems)
            if kind == "CategoricalParameterRanges":
                param: Parameter | None = _categorical(name, entry, entry_path, problems)
            else:
                param = _numeric(
                    name, entry, entry_path, kind == "IntegerParameterRanges", problems
                )
            if param is not None:
                parameters.append(param)
    if not any(ranges.get(kind) for kind in KINDS):
        problems.append(Problem(path, "at least one parameter range is required"))
    if problems:
        return None, sorted(set(problems))
    return SearchSpace(tuple(parameters)), []


def _name(
    entry: Mapping[str, object], path: str, seen: dict[str, str], problems: list[Problem]
) -> str | None:
    name = entry.get("Name")
    name_path = join_path(path, "Name")
    if not isinstance(name, str) or not name:
        problems.append(Problem(name_path, "is required (a non-empty string)"))
        return None
    if name in seen:
        problems.append(
            Problem(name_path, f"duplicate hyperparameter name {name!r} (also at {seen[name]})")
        )
        return None
    seen[name] = name_path
    return name


def _number(
    entry: Mapping[str, object], field: str, path: str, integer: bool, problems: list[Problem]
) -> float | None:
    raw = entry.get(field)
    field_path = join_path(path, field)
    if raw is None:
        problems.append(Problem(field_path, "is required"))
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        problems.append(Problem(field_path, f"must be a number given as a string, got {raw!r}"))
        return None
    text = str(raw).strip()
    if integer:
        if not _INTEGER.fullmatch(text):
            problems.append(Problem(field_path, f"must be an integer, got {raw!r}"))
            return None
        if len(text.lstrip("+-").lstrip("0")) > 16 or abs(int(text)) > MAX_INTEGER:
            problems.append(
                Problem(field_path,
                        f"must be between -{MAX_INTEGER} and {MAX_INTEGER} (2**53), got {raw!r}"))
            return None
        return float(int(text))
    try:
        # float() also takes "1_000", "inf" and non-ASCII digits; the service takes none of them
        value = float(text) if "_" not in text and text.isascii() else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        problems.append(Problem(field_path, f"must be a finite number, got {raw!r}"))
        return None
    return value


def _numeric(
    name: str | None, entry: Mapping[str, object], path: str, integer: bool, problems: list[Problem]
) -> NumericParameter | None:
    before = len(problems)
    lo = _number(entry, "MinValue", path, integer, problems)
    hi = _number(entry, "MaxValue", path, integer, problems)
    raw_scaling = entry.get("ScalingType", Scaling.AUTO.value)
    scaling_path = join_path(path, "ScalingType")
    try:
        scaling = Scaling(str(raw_scaling)) if isinstance(raw_scaling, str) else Scaling("?")
    except ValueError:
        problems.append(
            Problem(
                scaling_path,
                f"must be one of {', '.join(s.value for s in Scaling)}, got {raw_scaling!r}",
            )
        )
        return None
    if lo is None or hi is None:
        return None
    min_path, max_path = join_path(path, "MinValue"), join_path(path, "MaxValue")
    if lo >= hi:
        problems.append(
            Problem(min_path, f"must be less than MaxValue ({entry.get('MaxValue')!r})")
        )
    elif not math.isfinite(hi - lo):
        problems.append(
            Problem(max_path,
                    "is too far from MinValue: MaxValue - MinValue must be a finite number")
        )
    if scaling is Scaling.LOGARITHMIC and lo <= 0:
        problems.append(Problem(min_path, "must be greater than 0 for Logarithmic scaling"))
    if scaling is Scaling.REVERSE_LOGARITHMIC and integer:
        problems.append(
            Problem(scaling_path, "ReverseLogarithmic is only for continuous ranges")
        )
    elif scaling is Scaling.REVERSE_LOGARITHMIC:
        if lo < 0:
            problems.append(Problem(min_path, "must be at least 0 for ReverseLogarithmic scaling"))
        if hi >= 1:
            problems.append(Problem(max_path, "must be less than 1 for ReverseLogarithmic scaling"))
    if len(problems) > before or name is None:
        return None
    if scaling is Scaling.AUTO:
        scaling = resolve_auto(lo, hi)
    return NumericParameter(name, lo, hi, scaling, integer)


def _categorical(
    name: str | None, entry: Mapping[str, object], path: str, problems: list[Problem]
) -> CategoricalParameter | None:
    values = entry.get("Values")
    values_path = join_path(path, "Values")
    if not isinstance(values, list) or not values:
        problems.append(Problem(values_path, "is required (a list of 1 to 30 strings)"))
        return None
    before = len(problems)
    if len(values) > MAX_CATEGORICAL_VALUES:
        problems.append(
            Problem(values_path, f"at most {MAX_CATEGORICAL_VALUES} values, got {len(values)}")
        )
    seen: set[str] = set()
    for j, value in enumerate(values):
        if not isinstance(value, str):
            problems.append(Problem(join_path(values_path, j), f"must be a string, got {value!r}"))
        elif value in seen:
            problems.append(Problem(join_path(values_path, j), f"duplicate value {value!r}"))
        seen.add(str(value))
    if len(problems) > before or name is None:
        return None
    return CategoricalParameter(name, tuple(str(v) for v in values))
