"""The corners of a search space and the verdicts of a rehearsal trial (pure)."""

from __future__ import annotations

from runner.tuning import corners as c
from runner.tuning.search_space import parse_ranges

RANGES = {
    "IntegerParameterRanges": [{"Name": "batch", "MinValue": "16", "MaxValue": "4096"}],
    "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.0001", "MaxValue": "1",
                                   "ScalingType": "Logarithmic"}],
    "CategoricalParameterRanges": [{"Name": "act", "Values": ["relu", "tanh", "gelu"]}],
}


def test_every_extreme_value_once_in_as_many_rows_as_the_longest_range() -> None:
    space, problems = parse_ranges(RANGES, "ParameterRanges")
    assert space is not None and not problems
    found = [space.format(config) for config in c.corners(space)]
    assert found == [
        {"batch": "16", "lr": "0.0001", "act": "relu"},
        {"batch": "4096", "lr": "1.0", "act": "tanh"},
        {"batch": "16", "lr": "0.0001", "act": "gelu"},
    ]


def test_numeric_ranges_alone_give_the_two_opposite_corners() -> None:
    space, _ = parse_ranges({"ContinuousParameterRanges": [
        {"Name": "a", "MinValue": "0", "MaxValue": "1"},
        {"Name": "b", "MinValue": "-5", "MaxValue": "5"}]}, "ParameterRanges")
    assert space is not None
    assert [space.format(x) for x in c.corners(space)] == [{"a": "0.0", "b": "-5.0"},
                                                          {"a": "1.0", "b": "5.0"}]


def test_verdicts() -> None:
    done = {"TrainingJobStatus": "Stopped", "SecondaryStatus": "Stopped"}
    assert c.verdict(done, (0.25, 3.0), 0, 60) == (c.OK, "objective 0.25 after 3.0 s")
    assert c.verdict(done, (0.25, 3.0), 2, 60)[0] == c.NONFINITE
    oom = {"TrainingJobStatus": "Failed", "FailureReason": (
        "AlgorithmError: the container ran out of memory and was killed (OOM, exit code 137)")}
    assert c.verdict(oom, None, 0, 60)[0] == c.OOM
    crash = {"TrainingJobStatus": "Failed", "FailureReason": "ValueError: bad\nmore"}
    assert c.verdict(crash, None, 0, 60) == (c.CRASHED, "ValueError: bad more")
    late = {"TrainingJobStatus": "Stopped", "SecondaryStatus": "MaxRuntimeExceeded"}
    assert c.verdict(late, None, 0, 60)[0] == c.TOO_SLOW
    quiet = {"TrainingJobStatus": "Completed", "SecondaryStatus": "Completed"}
    assert c.verdict(quiet, None, 0, 60) == (c.NO_OBJECTIVE, "Completed without an objective value")
