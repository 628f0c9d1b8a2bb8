"""Unit tests for runner.tuning.search_space: parsing ParameterRanges, sampling, the unit-cube
encoding, grids and hyperparameter strings."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from runner.core.problems import Problem
from runner.tuning.search_space import (
    CategoricalParameter,
    NumericParameter,
    Scaling,
    SearchSpace,
    parse_ranges,
)

P = "HyperParameterTuningJobConfig.ParameterRanges"

NTM_RANGES: dict[str, Any] = {
    "IntegerParameterRanges": [
        {"Name": "mini_batch_size", "MinValue": "16", "MaxValue": "2048", "ScalingType": "Auto"}
    ],
    "ContinuousParameterRanges": [
        {"Name": "learning_rate", "MinValue": "1e-4", "MaxValue": "0.1", "ScalingType": "Auto"},
        {"Name": "rescale_gradient", "MinValue": "0.1", "MaxValue": "1.0"},
        {"Name": "weight_decay", "MinValue": "0.0", "MaxValue": "1.0", "ScalingType": "Linear"},
        {"Name": "momentum", "MinValue": "0", "MaxValue": "0.999",
         "ScalingType": "ReverseLogarithmic"},
    ],
    "CategoricalParameterRanges": [
        {"Name": "encoder_layers_activation", "Values": ["sigmoid", "tanh", "relu"]},
        {"Name": "optimizer", "Values": ["sgd", "adam", "adadelta"]},
    ],
}


def ntm() -> SearchSpace:
    space, problems = parse_ranges(NTM_RANGES, P)
    assert problems == [] and space is not None
    return space


def problems_of(ranges: dict[str, Any]) -> list[Problem]:
    space, problems = parse_ranges(ranges, P)
    assert space is None
    return problems


def one(kind: str, **fields: Any) -> dict[str, Any]:
    return {kind: [{"Name": "x", **fields}]}


# --- parsing ----------------------------------------------------------------------


def test_parse_types_order_and_auto_scaling() -> None:
    space = ntm()
    assert space.names == [
        "mini_batch_size",
        "learning_rate",
        "rescale_gradient",
        "weight_decay",
        "momentum",
        "encoder_layers_activation",
        "optimizer",
    ]
    batch, lr, rescale, wd, momentum, act, _ = space.parameters
    assert batch == NumericParameter("mini_batch_size", 16, 2048, Scaling.LINEAR, integer=True)
    assert isinstance(lr, NumericParameter)
    assert lr.scaling is Scaling.LOGARITHMIC  # Auto: >= 3 orders of magnitude, min > 0
    assert isinstance(rescale, NumericParameter) and rescale.scaling is Scaling.LINEAR
    assert isinstance(wd, NumericParameter) and wd.scaling is Scaling.LINEAR
    assert isinstance(momentum, NumericParameter)
    assert momentum.scaling is Scaling.REVERSE_LOGARITHMIC
    assert act == CategoricalParameter("encoder_layers_activation", ("sigmoid", "tanh", "relu"))
    assert space.dims == 5 + 3 + 3
    assert not space.is_categorical_only and space.size is None and space.cardinality is None


@pytest.mark.parametrize(
    ("ranges", "path", "words"),
    [
        (
            one("ContinuousParameterRanges", MinValue="a", MaxValue="1"),
            "ContinuousParameterRanges[0].MinValue",
            "finite number",
        ),
        (
            one("ContinuousParameterRanges", MinValue="0", MaxValue="nan"),
            "ContinuousParameterRanges[0].MaxValue",
            "finite number",
        ),
        (
            one("ContinuousParameterRanges", MinValue="0", MaxValue="1_0"),
            "ContinuousParameterRanges[0].MaxValue",
            "finite number",
        ),
        (
            one("ContinuousParameterRanges", MaxValue="1"),
            "ContinuousParameterRanges[0].MinValue",
            "required",
        ),
        (
            one("ContinuousParameterRanges", MinValue=True, MaxValue="1"),
            "ContinuousParameterRanges[0].MinValue",
            "string",
        ),
        (
            one("IntegerParameterRanges", MinValue="1.5", MaxValue="4"),
            "IntegerParameterRanges[0].MinValue",
            "integer",
        ),
        (
            one("IntegerParameterRanges", MinValue="1", MaxValue="1e3"),
            "IntegerParameterRanges[0].MaxValue",
            "integer",
        ),
        (
            one("ContinuousParameterRanges", MinValue="2", MaxValue="1"),
            "ContinuousParameterRanges[0].MinValue",
            "less than MaxValue",
        ),
        (
            one("IntegerParameterRanges", MinValue="3", MaxValue="3"),
            "IntegerParameterRanges[0].MinValue",
            "less than MaxValue",
        ),
        (
            one("ContinuousParameterRanges", MinValue="0", MaxValue="1", ScalingType="Logarithmic"),
            "ContinuousParameterRanges[0].MinValue",
            "greater than 0",
        ),
        (
            one("IntegerParameterRanges", MinValue="-2", MaxValue="8", ScalingType="Logarithmic"),
            "IntegerParameterRanges[0].MinValue",
            "greater than 0",
        ),
        (
            one(
                "IntegerParameterRanges",
                MinValue="0",
                MaxValue="1",
                ScalingType="ReverseLogarithmic",
            ),
            "IntegerParameterRanges[0].ScalingType",
            "only for continuous",
        ),
        (
            one(
                "ContinuousParameterRanges",
                MinValue="-0.1",
                MaxValue="0.5",
                ScalingType="ReverseLogarithmic",
            ),
            "ContinuousParameterRanges[0].MinValue",
            "at least 0",
        ),
        (
            one(
                "ContinuousParameterRanges",
                MinValue="0.1",
                MaxValue="1",
                ScalingType="ReverseLogarithmic",
            ),
            "ContinuousParameterRanges[0].MaxValue",
            "less than 1",
        ),
        (
            one("ContinuousParameterRanges", MinValue="0", MaxValue="1", ScalingType="Quadratic"),
            "ContinuousParameterRanges[0].ScalingType",
            "must be one of",
        ),
        (
            one("CategoricalParameterRanges", Values=[]),
            "CategoricalParameterRanges[0].Values",
            "1 to 30",
        ),
        (
            one("CategoricalParameterRanges", Values=["a", "b", "a"]),
            "CategoricalParameterRanges[0].Values[2]",
            "duplicate value",
        ),
        (
            one("CategoricalParameterRanges", Values=["a", 3]),
            "CategoricalParameterRanges[0].Values[1]",
            "string",
        ),
        (
            one("CategoricalParameterRanges", Values=[str(i) for i in range(31)]),
            "CategoricalParameterRanges[0].Values",
            "at most 30",
        ),
        (
            {"CategoricalParameterRanges": [{"Values": ["a"]}]},
            "CategoricalParameterRanges[0].Name",
            "required",
        ),
        ({"ContinuousParameterRanges": "x"}, "ContinuousParameterRanges", "list"),
        ({"ContinuousParameterRanges": ["x"]}, "ContinuousParameterRanges[0]", "object"),
        ({}, "", "at least one"),
        (
            {"AutoParameters": [], **one("CategoricalParameterRanges", Values=["a"])},
            "AutoParameters",
            "Autotune",
        ),
        ({"Bogus": 1, **one("CategoricalParameterRanges", Values=["a"])}, "Bogus", "unknown field"),
    ],
)
def test_parse_problems_have_exact_paths(ranges: dict[str, Any], path: str, words: str) -> None:
    problems = problems_of(ranges)
    full = f"{P}.{path}" if path else P
    assert [p.path for p in problems] == [full], problems
    assert words in problems[0].message


def test_parse_not_a_mapping() -> None:
    assert parse_ranges(["x"], P) == (None, [Problem(P, "must be an object of parameter ranges")])


def test_duplicate_names_across_kinds_point_at_the_second() -> None:
    problems = problems_of(
        {
            "IntegerParameterRanges": [{"Name": "lr", "MinValue": "1", "MaxValue": "4"}],
            "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0", "MaxValue": "1"}],
        }
    )
    assert [p.path for p in problems] == [f"{P}.ContinuousParameterRanges[0].Name"]
    assert "IntegerParameterRanges[0].Name" in problems[0].message


def test_at_most_30_ranges_of_each_kind() -> None:
    entries = [{"Name": f"x{i}", "Values": ["a"]} for i in range(31)]
    problems = problems_of({"CategoricalParameterRanges": entries})
    assert [p.path for p in problems] == [f"{P}.CategoricalParameterRanges"]
    ok = {"CategoricalParameterRanges": entries[:30], "ContinuousParameterRanges": [
        {"Name": f"c{i}", "MinValue": "0", "MaxValue": "1"} for i in range(30)]}
    assert parse_ranges(ok, P)[1] == []


def test_numbers_may_be_yaml_numbers_and_every_problem_is_reported() -> None:
    space, problems = parse_ranges(
        {"IntegerParameterRanges": [{"Name": "n", "MinValue": 1, "MaxValue": 8}]}, P
    )
    assert problems == [] and space is not None
    assert space.parameters[0] == NumericParameter("n", 1, 8, Scaling.LINEAR, integer=True)
    problems = problems_of(
        {
            "ContinuousParameterRanges": [
                {"Name": "a", "MinValue": "x", "MaxValue": "1"},
                {"Name": "b", "MinValue": "0", "MaxValue": "1", "ScalingType": "Logarithmic"},
            ]
        }
    )
    assert len(problems) == 2


# --- sampling and encoding ------------------------------------------------------------


def test_samples_are_typed_and_within_the_ranges() -> None:
    space = ntm()
    rng = np.random.default_rng(0)
    for _ in range(200):
        config = space.sample(rng)
        assert type(config["mini_batch_size"]) is int
        assert type(config["learning_rate"]) is float
        assert type(config["optimizer"]) is str
        assert space.contains(config)


def test_sampling_follows_the_scaling() -> None:
    space = ntm()
    rng = np.random.default_rng(1)
    draws = [space.sample(rng) for _ in range(4000)]
    lrs = np.array([d["learning_rate"] for d in draws], dtype=float)
    assert abs(np.median(np.log10(lrs)) - (-2.5)) < 0.1  # log-uniform over 1e-4 .. 0.1
    momenta = np.array([d["momentum"] for d in draws], dtype=float)
    assert np.median(momenta) > 0.9  # reverse log: dense near 1
    batches = np.array([d["mini_batch_size"] for d in draws])
    assert abs(np.median(batches) - 1032) < 80  # linear


def test_integer_draws_give_every_value_its_share() -> None:
    space = SearchSpace((NumericParameter("k", 1, 4, Scaling.LINEAR, integer=True),))
    rng = np.random.default_rng(2)
    counts = np.bincount([int(space.sample(rng)["k"]) for _ in range(8000)], minlength=5)[1:]
    assert counts.min() > 1800 and counts.max() < 2200


def test_encode_decode_round_trip_in_the_unit_cube() -> None:
    space = ntm()
    rng = np.random.default_rng(3)
    for _ in range(100):
        config = space.sample(rng)
        x = space.encode(config)
        assert x.shape == (space.dims,) and np.all((x >= 0) & (x <= 1))
        back = space.decode(x)
        assert space.format(back) == space.format(config)
        assert type(back["mini_batch_size"]) is int


def test_decode_rounds_clips_and_takes_the_largest_one_hot() -> None:
    space = SearchSpace(
        (
            NumericParameter("k", 1, 10, Scaling.LINEAR, integer=True),
            NumericParameter("lr", 1e-4, 1e-1, Scaling.LOGARITHMIC),
            CategoricalParameter("c", ("a", "b", "c")),
        )
    )
    config = space.decode(np.array([1.7, -3.0, 0.2, 0.9, 0.4]))
    assert config == {"k": 10, "lr": 1e-4, "c": "b"}
    assert space.decode(np.array([0.0, 1.0, 1.0, 0.0, 0.0])) == {"k": 1, "lr": 0.1, "c": "a"}


def test_snap_is_encode_of_decode() -> None:
    space = ntm()
    x = np.random.default_rng(4).random((50, space.dims))
    expected = np.stack([space.encode(space.decode(row)) for row in x])
    np.testing.assert_allclose(space.snap(x), expected, atol=1e-12)
    configs = [space.decode(row) for row in x]
    np.testing.assert_allclose(space.encode_many(configs), expected, atol=1e-12)


def test_encode_unit_matches_from_unit() -> None:
    space = ntm()
    u = np.random.default_rng(5).random((20, len(space.parameters)))
    encoded = space.encode_unit(u)
    for row, x in zip(u, encoded, strict=True):
        np.testing.assert_allclose(space.encode(space.from_unit(row)), x, atol=1e-12)


def test_log_encoding_is_uniform_in_log_space() -> None:
    space = SearchSpace((NumericParameter("lr", 1e-4, 1e-1, Scaling.LOGARITHMIC),))
    assert space.encode({"lr": 1e-4})[0] == pytest.approx(0.0)
    assert space.encode({"lr": 10**-2.5})[0] == pytest.approx(0.5)
    assert space.encode({"lr": 0.1})[0] == pytest.approx(1.0)


def test_discrete_dims() -> None:
    space = ntm()
    assert space.discrete_dims.tolist() == [True, False, False, False, False] + [True] * 6


# --- grid ----------------------------------------------------------------------


def test_grid_is_the_cartesian_product_in_a_stable_order() -> None:
    space, _ = parse_ranges(
        {
            "CategoricalParameterRanges": [
                {"Name": "lr", "Values": ["0.1", "0.01"]},
                {"Name": "batch", "Values": ["32", "64", "128"]},
            ]
        },
        P,
    )
    assert space is not None and space.is_categorical_only
    assert space.size == 6 and space.cardinality == 6
    grid = space.grid()
    assert grid[:4] == [
        {"lr": "0.1", "batch": "32"},
        {"lr": "0.1", "batch": "64"},
        {"lr": "0.1", "batch": "128"},
        {"lr": "0.01", "batch": "32"},
    ]
    assert len({tuple(c.values()) for c in grid}) == 6
    assert space.grid() == grid


def test_grid_needs_a_categorical_only_space() -> None:
    with pytest.raises(ValueError, match="categorical"):
        ntm().grid()


def test_cardinality_of_integer_and_categorical_spaces() -> None:
    space = SearchSpace(
        (NumericParameter("k", 2, 5, integer=True), CategoricalParameter("c", ("a", "b")))
    )
    assert space.cardinality == 8 and space.size is None


# --- hyperparameter strings ---------------------------------------------------------


def test_format_as_sagemaker_strings() -> None:
    space = ntm()
    config: dict[str, int | float | str] = {
        "mini_batch_size": 12,
        "learning_rate": 0.001,
        "rescale_gradient": 1e-05,
        "weight_decay": 0.30000000000000004,
        "momentum": 0.5,
        "encoder_layers_activation": "relu",
        "optimizer": "adam",
    }
    assert space.format(config) == {
        "mini_batch_size": "12",
        "learning_rate": "0.001",
        "rescale_gradient": "1e-05",
        "weight_decay": "0.30000000000000004",
        "momentum": "0.5",
        "encoder_layers_activation": "relu",
        "optimizer": "adam",
    }


def test_parse_is_the_inverse_of_format() -> None:
    space = ntm()
    rng = np.random.default_rng(6)
    for _ in range(50):
        config = space.sample(rng)
        strings = {**space.format(config), "_tuning_objective_metric": "loss", "static": "1"}
        parsed = space.parse(strings)
        assert parsed == config
        assert all(type(parsed[k]) is type(config[k]) for k in config)


def test_parse_rejects_missing_and_malformed_values() -> None:
    space = ntm()
    strings = space.format(space.sample(np.random.default_rng(7)))
    with pytest.raises(ValueError, match="missing"):
        space.parse({k: v for k, v in strings.items() if k != "optimizer"})
    for name, bad in [("mini_batch_size", "1.5"), ("learning_rate", "fast"),
                      ("optimizer", "rmsprop"), ("learning_rate", "inf")]:
        with pytest.raises(ValueError):
            space.parse({**strings, name: bad})
    assert space.parse({**strings, "mini_batch_size": "64.0"})["mini_batch_size"] == 64


def test_parse_does_not_range_check_but_contains_does() -> None:
    space = ntm()
    strings = space.format(space.sample(np.random.default_rng(8)))
    config = space.parse({**strings, "mini_batch_size": "4096"})
    assert config["mini_batch_size"] == 4096 and not space.contains(config)


def test_formatted_floats_round_trip_exactly() -> None:
    space = SearchSpace((NumericParameter("x", 0.0, 1.0),))
    for value in [1 / 3, 0.1, 1e-300, math.nextafter(0.5, 1.0)]:
        assert space.parse(space.format({"x": value}))["x"] == value


# --- ranges that used to crash or silently misbehave --------------------------------------


@pytest.mark.parametrize("bound", [str(10**400), "1" * 5000, str(2**53 + 1), "-" + str(10**30)])
def test_integer_bounds_beyond_2_to_the_53(bound: str) -> None:
    field = "MinValue" if bound.startswith("-") else "MaxValue"
    fields = {"MinValue": "1", "MaxValue": "5", field: bound}
    problems = problems_of(one("IntegerParameterRanges", **fields))
    assert problems == [
        Problem(f"{P}.IntegerParameterRanges[0].{field}",
                f"must be between -9007199254740992 and 9007199254740992 (2**53), got {bound!r}")
    ]


def test_integer_bounds_up_to_2_to_the_53_and_leading_zeros() -> None:
    space, problems = parse_ranges(one("IntegerParameterRanges", MinValue="-0000000000000000001",
                                       MaxValue=str(2**53)), P)
    assert problems == [] and space is not None
    assert space.format(space.from_unit([1.0])) == {"x": str(2**53)}


def test_continuous_range_too_wide_for_a_float() -> None:
    assert problems_of(one("ContinuousParameterRanges", MinValue="-1e308", MaxValue="1e308")) == [
        Problem(f"{P}.ContinuousParameterRanges[0].MaxValue",
                "is too far from MinValue: MaxValue - MinValue must be a finite number")
    ]


@pytest.mark.parametrize("text", ["١", "٢.٥", "１"])
def test_continuous_bounds_take_ascii_digits_only(text: str) -> None:
    problems = problems_of(one("ContinuousParameterRanges", MinValue="0", MaxValue=text))
    assert (problems == [Problem(f"{P}.ContinuousParameterRanges[0].MaxValue",
                                 f"must be a finite number, got {text!r}")])
