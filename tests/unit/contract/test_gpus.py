"""Tests for runner.contract.gpus: the GPUs each host of a job gets."""

from __future__ import annotations

import pytest

from runner.contract.gpus import GpuError, device_ids, plan_gpus

TWO = ["algo-1", "algo-2"]


def test_an_explicit_selection_is_split_evenly() -> None:
    plan = plan_gpus("0,1,2,3", 1, TWO, machine=None)
    assert plan.by_host == {"algo-1": "0,1", "algo-2": "2,3"} and plan.warning is None
    # the rest unused
    assert plan_gpus("3, 5, 7", 4, TWO, machine=["0"]).by_host == {"algo-1": "3", "algo-2": "5"}


def test_one_host_keeps_an_explicit_selection() -> None:
    assert plan_gpus("0,2", 1, ["algo-1"], machine=["0", "1", "2"]).by_host == {"algo-1": "0,2"}


def test_all_gpus_go_out_by_the_instance_types_count() -> None:
    machine = [str(i) for i in range(8)]
    # ml.g5.xlarge: one GPU
    assert plan_gpus(None, 1, ["algo-1"], machine).by_host == {"algo-1": "0"}
    assert plan_gpus("all", 4, TWO, machine).by_host == {"algo-1": "0,1,2,3", "algo-2": "4,5,6,7"}


def test_local_gpu_takes_all_or_an_even_share() -> None:
    machine = ["0", "1", "2"]
    assert plan_gpus(None, -1, ["algo-1"], machine).by_host == {"algo-1": "all"}
    assert plan_gpus(None, -1, TWO, machine).by_host == {"algo-1": "0", "algo-2": "1"}


def test_too_few_gpus_for_the_instance_type_warns_and_shares() -> None:
    plan = plan_gpus(None, 8, TWO, ["0", "1", "2", "3"], "ml.p3.16xlarge")
    assert plan.by_host == {"algo-1": "0,1", "algo-2": "2,3"}
    assert plan.warning == ("ml.p3.16xlarge has 8 GPU(s) per host; this machine has 4 for 2 "
                            "host(s), so each host gets 2")


def test_fewer_gpus_than_hosts_is_an_error() -> None:
    with pytest.raises(GpuError,
                       match=r"1 GPU\(s\) \(0\) for 2 hosts: each host needs at least one"):
        plan_gpus("0", 1, TWO, machine=None)
    with pytest.raises(GpuError):
        plan_gpus(None, 1, ["algo-1", "algo-2", "algo-3"], machine=["0", "1"])


def test_unknown_gpus_are_all_given_to_every_host_with_a_warning() -> None:
    plan = plan_gpus(None, 1, TWO, machine=None)
    assert plan.by_host == {"algo-1": "all", "algo-2": "all"}
    assert plan.warning is not None and "cannot be listed" in plan.warning
    assert (plan_gpus(None, 1, ["algo-1"], machine=None)
            == plan_gpus("all", 1, ["algo-1"], machine=None))
    assert plan_gpus(None, 1, ["algo-1"], machine=None).warning is None


def test_device_ids_of_a_selection() -> None:
    assert device_ids("all") is None and device_ids(None) is None
    assert device_ids("0, 2") == ["0", "2"]
