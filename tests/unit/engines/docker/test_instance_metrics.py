"""Tests for runner.engines.docker.instance_metrics: SageMaker's instance metrics from engine
readings."""

from __future__ import annotations

from runner.engines.docker.instance_metrics import cpu_percent, gpu_percents, memory_percent


def test_cpu_percent_sums_over_cores() -> None:
    stats = {
        "cpu_stats": {"cpu_usage": {"total_usage": 3_000_000_000},
                      "system_cpu_usage": 20_000_000_000, "online_cpus": 4},
        "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000_000},
                         "system_cpu_usage": 16_000_000_000},
    }
    assert cpu_percent(stats) == 200.0  # two of four cores busy: 200 %, as SageMaker counts
    assert cpu_percent({"cpu_stats": {}, "precpu_stats": {}}) is None
    stats["precpu_stats"]["system_cpu_usage"] = 20_000_000_000
    assert cpu_percent(stats) is None


def test_memory_percent_leaves_out_the_page_cache() -> None:
    assert (memory_percent({"memory_stats": {"usage": 600, "limit": 1000,
                                             "stats": {"total_inactive_file": 100}}}) == 50.0)
    assert (memory_percent({"memory_stats": {"usage": 300, "limit": 1000,
                                             "stats": {"inactive_file": 100}}}) == 20.0)
    assert memory_percent({"memory_stats": {}}) is None


def test_gpu_percents() -> None:
    csv = "0, 50, 1000, 4000\n1, 30, 2000, 4000\n2, 100, 4000, 4000\n"
    assert gpu_percents(csv, None) == {"GPUUtilization": 180.0, "GPUMemoryUtilization": 175.0}
    assert gpu_percents(csv, ["0", "1"]) == {"GPUUtilization": 80.0, "GPUMemoryUtilization": 75.0}
    assert gpu_percents("garbage", None) == {}
