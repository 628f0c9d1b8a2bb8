"""Instance metrics as SageMaker reports them (pure functions over what the engine says).

``CPUUtilization``: the container's CPU time over the interval as a percentage of one core,
summed over cores (0..100 x cores, as SageMaker). ``MemoryUtilization``: memory in use (page
cache left out, as ``docker stats``) as a percentage of the limit. ``GPUUtilization`` and
``GPUMemoryUtilization``: summed over the GPUs the job was given (0..100 x GPUs), from
``nvidia-smi``'s CSV.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

NVIDIA_SMI_ARGV = [
    "nvidia-smi", "--query-gpu=index,utilization.gpu,memory.used,memory.total",
    "--format=csv,noheader,nounits",
]


def cpu_percent(stats: dict[str, Any]) -> float | None:
    """From one ``docker stats`` sample (it carries the previous reading too)."""
    try:
        cpu, pre = stats["cpu_stats"], stats["precpu_stats"]
        cpu_delta = cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
        system_delta = cpu["system_cpu_usage"] - pre["system_cpu_usage"]
        cores = cpu.get("online_cpus") or len(cpu["cpu_usage"].get("percpu_usage") or []) or 1
    except (KeyError, TypeError):
        return None
    if system_delta <= 0 or cpu_delta < 0:
        return None
    return round(float(cpu_delta) / float(system_delta) * float(cores) * 100.0, 2)


def memory_percent(stats: dict[str, Any]) -> float | None:
    mem = stats.get("memory_stats") or {}
    usage, limit = mem.get("usage"), mem.get("limit")
    if not usage or not limit:
        return None
    details = mem.get("stats") or {}
    cache = (details.get("total_inactive_file",
                         details.get("inactive_file", details.get("cache", 0))) or 0)
    return round(max(0.0, float(usage) - float(cache)) / float(limit) * 100.0, 2)


def gpu_percents(csv_text: str, devices: Sequence[str] | None) -> dict[str, float]:
    """``GPUUtilization`` and ``GPUMemoryUtilization`` over ``devices`` (indexes; None: all)."""
    util = mem = 0.0
    seen = 0
    for line in csv_text.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 4:
            continue
        index, gpu, used, total = fields
        if devices is not None and index not in devices:
            continue
        try:
            util += float(gpu)
            mem += float(used) / float(total) * 100.0 if float(total) else 0.0
        except ValueError:
            continue
        seen += 1
    if not seen:
        return {}
    return {"GPUUtilization": round(util, 2), "GPUMemoryUtilization": round(mem, 2)}
