"""Typed tuning parameters: an integer or continuous range under its scaling, or a categorical
range, each mapped onto the unit interval (see ``runner.tuning.search_space``).

Integers own equal cells of the (scaled) axis: ``[v - 0.5, v + 0.5]`` for each value ``v``, so
uniform unit draws give every integer its fair share and an encoded integer sits at its cell's
centre (linear) or inside it (log). ``ScalingType: Auto`` is resolved here, not by a model:
Logarithmic when ``MinValue > 0`` and the range spans at least three orders of magnitude
(``MaxValue / MinValue >= 1000``), else Linear (SageMaker decides itself and does not say how).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from runner.tuning.trials import Value

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

AUTO_LOG_RATIO = 1000.0


class Scaling(StrEnum):
    AUTO = "Auto"
    LINEAR = "Linear"
    LOGARITHMIC = "Logarithmic"
    REVERSE_LOGARITHMIC = "ReverseLogarithmic"


def resolve_auto(minimum: float, maximum: float) -> Scaling:
    """What ``Auto`` means here (SageMaker decides itself and does not say how)."""
    if minimum > 0 and maximum / minimum >= AUTO_LOG_RATIO:
        return Scaling.LOGARITHMIC
    return Scaling.LINEAR


def _forward(scaling: Scaling, v: FloatArray) -> FloatArray:
    if scaling is Scaling.LOGARITHMIC:
        return np.log(v)
    if scaling is Scaling.REVERSE_LOGARITHMIC:
        return -np.log1p(-v)
    return v


def _inverse(scaling: Scaling, t: FloatArray) -> FloatArray:
    if scaling is Scaling.LOGARITHMIC:
        return np.exp(t)
    if scaling is Scaling.REVERSE_LOGARITHMIC:
        return -np.expm1(-t)
    return t


@dataclass(frozen=True)
class NumericParameter:
    """An integer or continuous range; ``scaling`` is the effective one (never Auto)."""

    name: str
    minimum: float
    maximum: float
    scaling: Scaling = Scaling.LINEAR
    integer: bool = False

    width = 1

    @property
    def _bounds(self) -> tuple[float, float]:
        pad = 0.5 if self.integer else 0.0
        lo, hi = _forward(self.scaling, np.array([self.minimum - pad, self.maximum + pad]))
        return float(lo), float(hi)

    def values_from_unit(self, u: FloatArray) -> FloatArray:
        """Values (floats; whole numbers for integers) at unit coordinates ``u``."""
        lo, hi = self._bounds
        u = np.clip(u, 0.0, 1.0)
        v = _inverse(self.scaling, lo + u * (hi - lo))
        if self.integer:
            v = np.floor(v + 0.5)
        # The ends exactly (exp(log(MinValue)) need not be MinValue).
        v = np.where(u <= 0.0, self.minimum, np.where(u >= 1.0, self.maximum, v))
        return np.clip(v, self.minimum, self.maximum)

    def unit_from_values(self, v: FloatArray) -> FloatArray:
        lo, hi = self._bounds
        with np.errstate(divide="ignore", invalid="ignore"):
            t = _forward(self.scaling, np.clip(v, self.minimum, self.maximum))
        return np.clip((t - lo) / (hi - lo), 0.0, 1.0)

    def typed(self, v: float) -> Value:
        return int(v) if self.integer else float(v)

    def encode_block(self, u: FloatArray) -> FloatArray:
        """Encoded block (m, 1) of the unit coordinates ``u`` (m,), snapped to valid values."""
        return self.unit_from_values(self.values_from_unit(u))[:, None]

    def snap_block(self, block: FloatArray) -> FloatArray:
        if not self.integer:
            return np.clip(block, 0.0, 1.0)
        return self.encode_block(block[:, 0])

    def decode_block(self, block: FloatArray) -> Value:
        return self.typed(float(self.values_from_unit(block[0])[0]))

    def encode_value(self, value: Value) -> FloatArray:
        return self.unit_from_values(np.array([float(value)]))

    def format(self, value: Value) -> str:
        return str(int(value)) if self.integer else repr(float(value))

    def parse(self, text: str) -> Value:
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(f"{self.name}: {text!r} is not a finite number")
        if self.integer:
            if not number.is_integer():
                raise ValueError(f"{self.name}: {text!r} is not an integer")
            return int(text) if text.strip().lstrip("+-").isdigit() else int(number)
        return number

    def contains(self, value: Value) -> bool:
        if isinstance(value, str) or isinstance(value, bool):
            return False
        if self.integer and not float(value).is_integer():
            return False
        return self.minimum <= float(value) <= self.maximum


@dataclass(frozen=True)
class CategoricalParameter:
    name: str
    values: tuple[str, ...]

    integer = False

    @property
    def width(self) -> int:
        return len(self.values)

    def _indexes(self, u: FloatArray) -> npt.NDArray[np.int64]:
        k = len(self.values)
        return np.minimum(np.floor(np.clip(u, 0.0, 1.0) * k), k - 1).astype(np.int64)

    def encode_block(self, u: FloatArray) -> FloatArray:
        block = np.zeros((u.shape[0], self.width))
        block[np.arange(u.shape[0]), self._indexes(u)] = 1.0
        return block

    def snap_block(self, block: FloatArray) -> FloatArray:
        snapped = np.zeros_like(block)
        snapped[np.arange(block.shape[0]), np.argmax(block, axis=1)] = 1.0
        return snapped

    def decode_block(self, block: FloatArray) -> Value:
        return self.values[int(np.argmax(block[0]))]

    def encode_value(self, value: Value) -> FloatArray:
        block = np.zeros(self.width)
        block[self.values.index(str(value))] = 1.0
        return block

    def typed_from_unit(self, u: float) -> Value:
        return self.values[int(self._indexes(np.array([u]))[0])]

    def format(self, value: Value) -> str:
        return str(value)

    def parse(self, text: str) -> Value:
        if text not in self.values:
            raise ValueError(f"{self.name}: {text!r} is not one of {list(self.values)}")
        return text

    def contains(self, value: Value) -> bool:
        return isinstance(value, str) and value in self.values


Parameter = NumericParameter | CategoricalParameter
