"""Hyperparameter specifications: check and parse a job's hyperparameters against an
algorithm's manifest.

Standard library only (no torch, no numpy), and no imports from the rest of
``algorithms``: the runner imports this file to check a request before any container
starts, and the algorithms use the same code inside the container, so both always agree.
It can be imported as ``algorithms.common.hyperparameters`` or loaded by file path.

A manifest's ``SupportedHyperParameters`` is a list in the shape of AWS's
``HyperParameterSpecification`` (``CreateAlgorithm`` ``TrainingSpecification``)::

    {"Name": "learning_rate", "Type": "Continuous", "IsRequired": false,
     "DefaultValue": "0.001", "IsTunable": true, "Description": "...",
     "Range": {"ContinuousParameterRangeSpecification": {"MinValue": "1e-6", "MaxValue": "1.0"}}}

``Type`` is one of AWS's ``Integer``, ``Continuous``, ``Categorical``, ``FreeText``, or
smlocal's ``Boolean`` (``true``/``false``, any case; AWS would spell it Categorical with
Values ``["true", "false"]``). Lower-case aliases are accepted (``integer``,
``continuous``, ``categorical``, ``boolean``, ``string`` = FreeText). ``Range`` holds
``IntegerParameterRangeSpecification`` / ``ContinuousParameterRangeSpecification``
(``MinValue``/``MaxValue`` as strings; either may be left out for an open end) or
``CategoricalParameterRangeSpecification`` (``Values``). smlocal extension: a FreeText
spec may carry ``Pattern``, a Python regex the whole value must match, and
``PatternDescription``, how to say it in an error message.

Values arrive as strings (the API carries only strings). A value that is a JSON string
literal (``"\\"adam\\""``, as framework estimators JSON-encode values) is unwrapped first.
Names starting with ``_`` (``_tuning_objective_metric`` and the service's other internal
ones) are always allowed; any other name not in the manifest is an error, as SageMaker's
built-in algorithms reject unknown hyperparameters.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

INTEGER, CONTINUOUS, CATEGORICAL, BOOLEAN, FREETEXT = (
    "Integer", "Continuous", "Categorical", "Boolean", "FreeText",
)
_TYPE_ALIASES = {
    "integer": INTEGER, "int": INTEGER,
    "continuous": CONTINUOUS, "float": CONTINUOUS,
    "categorical": CATEGORICAL,
    "boolean": BOOLEAN, "bool": BOOLEAN,
    "freetext": FREETEXT, "string": FREETEXT, "str": FREETEXT,
}
_TRUE, _FALSE = {"true"}, {"false"}
_INTEGER_TEXT = re.compile(r"[+-]?\d+")
_MAX_INTEGER_CHARS = 1000


class HyperparameterError(ValueError):
    """Raised by :func:`parse_hyperparameters`; ``problems`` lists ``(name, message)``."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__(format_problems(problems))


def format_problems(problems: list[tuple[str, str]]) -> str:
    return "; ".join(f"{name}: {message}" for name, message in problems)


def spec_type(spec: Mapping[str, Any]) -> str:
    raw = str(spec.get("Type", FREETEXT))
    return _TYPE_ALIASES.get(raw.lower(), raw)


def specs_by_name(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(s["Name"]): s for s in manifest.get("SupportedHyperParameters", [])}


def normalize_value(value: Any) -> str:
    """A hyperparameter value as the string the algorithm reads: JSON string literals
    unwrapped, booleans as ``true``/``false``, other non-strings through ``str``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str):
        return str(value)
    text = value.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        try:
            decoded = json.loads(text)
        except ValueError:
            return text
        if isinstance(decoded, str):
            return decoded.strip()
    return text


def _range(spec: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    rng = spec.get("Range") or {}
    return rng.get(key) or {}


def _bound(text: Any) -> float | None:
    if text is None or text == "":
        return None
    return float(text)


def _check_bounds(name: str, number: float, spec: Mapping[str, Any], key: str) -> str | None:
    rng = _range(spec, key)
    low, high = _bound(rng.get("MinValue")), _bound(rng.get("MaxValue"))
    if low is not None and number < low:
        return f"{_show(number)} is below the minimum {rng['MinValue']}"
    if high is not None and number > high:
        return f"{_show(number)} is above the maximum {rng['MaxValue']}"
    return None


def _show(number: float) -> str:
    if isinstance(number, int):  # (as it is: float() of a long one overflows)
        return str(number)
    return str(int(number)) if number.is_integer() and abs(number) < 1e16 else repr(number)


def convert(spec: Mapping[str, Any], value: str) -> tuple[Any, str | None]:
    """``(typed value, None)``, or ``(None, message)`` when ``value`` does not fit ``spec``."""
    kind = spec_type(spec)
    name = str(spec.get("Name", "?"))
    if kind == INTEGER:
        if not _INTEGER_TEXT.fullmatch(value):
            return None, f"must be an integer (got {value!r})"
        if len(value) > _MAX_INTEGER_CHARS:  # int() reads 4,300 digits at most
            most, got = _MAX_INTEGER_CHARS, len(value)
            return None, f"must be an integer of at most {most} digits (got {got:,})"
        number = int(value)
        problem = _check_bounds(name, number, spec, "IntegerParameterRangeSpecification")
        return (None, problem) if problem else (number, None)
    if kind == CONTINUOUS:
        try:
            real = float(value)
        except ValueError:
            return None, f"must be a number (got {value!r})"
        if math.isnan(real):
            return None, "must be a number (got nan)"
        problem = _check_bounds(name, real, spec, "ContinuousParameterRangeSpecification")
        return (None, problem) if problem else (real, None)
    if kind == BOOLEAN:
        lowered = value.lower()
        if lowered in _TRUE:
            return True, None
        if lowered in _FALSE:
            return False, None
        return None, f"must be true or false (got {value!r})"
    if kind == CATEGORICAL:
        allowed = [str(v) for v in _range(spec, "CategoricalParameterRangeSpecification").get("Values", [])]
        if allowed and value not in allowed:
            return None, f"must be one of {', '.join(allowed)} (got {value!r})"
        return value, None
    if kind == FREETEXT:
        pattern = spec.get("Pattern")
        if pattern and not re.fullmatch(str(pattern), value):
            how = spec.get("PatternDescription") or f"must match {pattern}"
            return None, f"{how} (got {value!r})"
        return value, None
    return None, f"the manifest gives an unknown Type {spec.get('Type')!r}"


def validate_hyperparameters(manifest: Mapping[str, Any], hps: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every problem with ``hps`` under ``manifest``, as ``(name, message)`` pairs in a
    stable order (unknown names, then the manifest's order); empty when all is well.
    Pure: no I/O."""
    specs = specs_by_name(manifest)
    problems: list[tuple[str, str]] = []
    for name in sorted(hps):
        if name not in specs and not name.startswith("_"):
            problems.append((name, f"is not a hyperparameter of this algorithm (known: {', '.join(sorted(specs))})"))
    for name, spec in specs.items():
        if name not in hps:
            if spec.get("IsRequired"):
                problems.append((name, "is required"))
            continue
        value = normalize_value(hps[name])
        if value == "" and spec_type(spec) != FREETEXT:
            problems.append((name, "is empty"))
            continue
        _typed, problem = convert(spec, value)
        if problem:
            problems.append((name, problem))
    return problems


def parse_hyperparameters(manifest: Mapping[str, Any], hps: Mapping[str, Any]) -> dict[str, Any]:
    """Typed values for every hyperparameter of the manifest (defaults filled in; a
    hyperparameter with neither a value nor a default is None). Raises
    :class:`HyperparameterError` with every problem at once."""
    problems = validate_hyperparameters(manifest, hps)
    if problems:
        raise HyperparameterError(problems)
    out: dict[str, Any] = {}
    for name, spec in specs_by_name(manifest).items():
        if name in hps:
            raw: str | None = normalize_value(hps[name])
        else:
            default = spec.get("DefaultValue")
            raw = None if default is None else str(default)
        if raw is None:
            out[name] = None
            continue
        typed, problem = convert(spec, raw)
        if problem:  # a bad DefaultValue: the manifest's fault
            raise HyperparameterError([(name, f"default value: {problem}")])
        out[name] = typed
    return out


def check_manifest(manifest: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Problems with the manifest itself: defaults that do not fit their own spec,
    ranges the service would reject, tuning ranges outside the specs, an objective that is
    not among the metric definitions. Pure; used by the tests and available to the runner."""
    problems: list[tuple[str, str]] = []
    specs = specs_by_name(manifest)
    for name, spec in specs.items():
        kind = spec_type(spec)
        if kind not in (INTEGER, CONTINUOUS, CATEGORICAL, BOOLEAN, FREETEXT):
            problems.append((name, f"unknown Type {spec.get('Type')!r}"))
            continue
        if spec.get("IsRequired") and spec.get("DefaultValue") is not None:
            problems.append((name, "is required and has a DefaultValue"))
        if spec.get("DefaultValue") is not None:
            _typed, problem = convert(spec, str(spec["DefaultValue"]))
            if problem:
                problems.append((name, f"DefaultValue: {problem}"))
    metric_names = [str(m.get("Name")) for m in manifest.get("MetricDefinitions", [])]
    for metric in manifest.get("MetricDefinitions", []):
        try:
            if re.compile(str(metric.get("Regex"))).groups < 1:
                problems.append((f"MetricDefinitions.{metric.get('Name')}", "the regex has no capture group"))
        except re.error as exc:
            problems.append((f"MetricDefinitions.{metric.get('Name')}", f"the regex does not compile: {exc}"))
        if "\t" in str(metric.get("Regex")):
            problems.append((f"MetricDefinitions.{metric.get('Name')}", "the regex holds a tab (the service ships tabs as #011)"))
    objective = manifest.get("TuningObjective") or {}
    if objective:
        if objective.get("MetricName") not in metric_names:
            problems.append(("TuningObjective", f"{objective.get('MetricName')!r} is not among the MetricDefinitions"))
        if objective.get("Type") not in ("Minimize", "Maximize"):
            problems.append(("TuningObjective", "Type must be Minimize or Maximize"))
    for supported in manifest.get("SupportedTuningJobObjectiveMetrics", []):
        if supported.get("MetricName") not in metric_names:
            problems.append(("SupportedTuningJobObjectiveMetrics", f"{supported.get('MetricName')!r} is not among the MetricDefinitions"))
    ranges = manifest.get("ParameterRanges") or {}
    for group, key in (("IntegerParameterRanges", INTEGER), ("ContinuousParameterRanges", CONTINUOUS),
                       ("CategoricalParameterRanges", CATEGORICAL)):
        for rng in ranges.get(group, []):
            name = str(rng.get("Name"))
            found = specs.get(name)
            where = f"ParameterRanges.{group}.{name}"
            if found is None:
                problems.append((where, "is not a hyperparameter of this algorithm"))
                continue
            spec = found
            if key == CATEGORICAL:
                values = [str(v) for v in rng.get("Values", [])]
                if not 1 <= len(values) <= 30:
                    problems.append((where, "needs 1 to 30 Values"))
                for value in values:
                    _typed, problem = convert(spec, value)
                    if problem:
                        problems.append((where, f"value {value!r}: {problem}"))
                continue
            if spec_type(spec) != key:
                problems.append((where, f"the hyperparameter's Type is {spec_type(spec)}, not {key}"))
                continue
            for end in ("MinValue", "MaxValue"):
                _typed, problem = convert(spec, str(rng.get(end)))
                if problem:
                    problems.append((where, f"{end}: {problem}"))
            try:
                low, high = float(rng["MinValue"]), float(rng["MaxValue"])
            except (KeyError, ValueError):
                problems.append((where, "MinValue and MaxValue must be numbers"))
                continue
            if low > high:
                problems.append((where, "MinValue is above MaxValue"))
            scaling = rng.get("ScalingType", "Auto")
            if scaling == "Logarithmic" and low <= 0:
                problems.append((where, "Logarithmic scaling needs MinValue > 0"))
            if scaling == "ReverseLogarithmic" and not (key == CONTINUOUS and 0 <= low < high < 1):
                problems.append((where, "ReverseLogarithmic scaling needs a continuous range within [0, 1)"))
    return problems
