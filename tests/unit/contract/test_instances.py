"""Tests for runner.contract.instances: CPUs, memory and GPUs per instance type."""

from __future__ import annotations

import pytest

from runner.contract import instances
from runner.contract.instances import InstanceType
from runner.shapes import model as schema


def test_local_types() -> None:
    assert instances.lookup("local") == InstanceType("local", None, None, 0)
    assert instances.lookup("local_gpu") == InstanceType("local_gpu", None, None, -1)
    local = instances.lookup("local")
    local_gpu = instances.lookup("local_gpu")
    assert local is not None and local_gpu is not None
    assert not local.wants_gpu
    assert local_gpu.wants_gpu
    assert local.memory_bytes is None


@pytest.mark.parametrize(
    ("name", "vcpus", "memory_gib", "gpus"),
    [
        ("ml.m5.large", 2, 8, 0),
        ("ml.m5.xlarge", 4, 16, 0),
        ("ml.m4.10xlarge", 40, 160, 0),
        ("ml.c4.xlarge", 4, 7.5, 0),
        ("ml.c5.9xlarge", 36, 72, 0),
        ("ml.c5n.xlarge", 4, 10.5, 0),
        ("ml.c6i.8xlarge", 32, 64, 0),
        ("ml.c6i.32xlarge", 128, 256, 0),
        ("ml.c7i.48xlarge", 192, 384, 0),
        ("ml.m6i.32xlarge", 128, 512, 0),
        ("ml.m7i.48xlarge", 192, 768, 0),
        ("ml.r5.large", 2, 16, 0),
        ("ml.t3.medium", 2, 4, 0),
        ("ml.p2.xlarge", 4, 61, 1),
        ("ml.p3.2xlarge", 8, 61, 1),
        ("ml.p3.16xlarge", 64, 488, 8),
        ("ml.p4d.24xlarge", 96, 1152, 8),
        ("ml.p5.4xlarge", 16, 256, 1),
        ("ml.p5.48xlarge", 192, 2048, 8),
        ("ml.g4dn.xlarge", 4, 16, 1),
        ("ml.g4dn.12xlarge", 48, 192, 4),
        ("ml.g5.48xlarge", 192, 768, 8),
        ("ml.g6.24xlarge", 96, 384, 4),
    ],
)
def test_lookup_known_types(name: str, vcpus: float, memory_gib: float, gpus: int) -> None:
    assert instances.lookup(name) == InstanceType(name, vcpus, memory_gib, gpus)


def test_types_that_do_not_exist_are_not_in_the_table() -> None:
    # c6i/c7i have no 9xlarge/18xlarge sizes (those are c5's).
    for name in ("ml.c6i.9xlarge", "ml.c6i.18xlarge", "ml.c7i.9xlarge", "ml.c7i.18xlarge"):
        assert name not in instances.TABLE


def test_every_cloud_type_of_a_known_family_is_known() -> None:
    """A type the service accepts, in a family smlocal has, must be in the table."""
    enum = (schema.input_shape("CreateTrainingJob").members["ResourceConfig"]
            .members["InstanceType"].enum)
    families = {name.rsplit(".", 1)[0] for name in instances.TABLE if name.startswith("ml.")}
    missing = [name for name in enum if name.rsplit(".", 1)[0] in families
               and name not in instances.TABLE]
    assert missing == []


def test_lookup_unknown() -> None:
    assert instances.lookup("ml.m5.huge") is None
    assert instances.lookup("ml.trn1.2xlarge") is None
    assert instances.lookup("m5.large") is None
    assert instances.lookup("") is None
    assert instances.lookup("LOCAL") is None


def test_lookup_unknown_gpu_type_counts_as_one_gpu() -> None:
    assert instances.lookup("ml.g6e.xlarge") == InstanceType("ml.g6e.xlarge", None, None, 1)
    assert instances.lookup("ml.p5en.48xlarge") == InstanceType("ml.p5en.48xlarge", None, None, 1)
    unknown = instances.lookup("ml.g6e.xlarge")
    assert unknown is not None and unknown.wants_gpu
    assert unknown.memory_bytes is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("local_gpu", True), ("ml.p3.2xlarge", True), ("ml.g5.xlarge", True),
        ("ml.g6e.xlarge", True), ("local", False), ("ml.m5.large", False), ("ml.c5.xlarge", False),
        ("ml.trn1.2xlarge", False),
    ],
)
def test_is_gpu_name(name: str, expected: bool) -> None:
    assert instances.is_gpu_name(name) is expected


def test_gpu_types_in_the_table_want_gpus() -> None:
    for name, itype in instances.TABLE.items():
        assert itype.name == name
        assert itype.wants_gpu == instances.is_gpu_name(name), name
        if itype.wants_gpu and name != "local_gpu":
            assert itype.gpus >= 1, name


def test_memory_bytes() -> None:
    m5 = instances.lookup("ml.m5.large")
    c4 = instances.lookup("ml.c4.xlarge")
    c5n = instances.lookup("ml.c5n.xlarge")
    assert m5 is not None and c4 is not None and c5n is not None
    assert m5.memory_bytes == 8 * 1024**3 == 8_589_934_592
    assert c4.memory_bytes == 8_053_063_680  # 7.5 GiB
    assert c5n.memory_bytes == 11_274_289_152  # 10.5 GiB
    assert isinstance(c4.memory_bytes, int)
    assert InstanceType("x", 1, 0.5, 0).memory_bytes == 536_870_912
