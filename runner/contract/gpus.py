"""Which GPUs each host of a job gets (pure).

The service gives each instance its own GPUs; the SageMaker SDK's local mode hands every
container all of the machine's GPUs. Here the GPUs a job may use (``Local.Gpus`` /
``--gpus``, or all of this machine's) are split between its hosts: with an explicit list,
evenly; with all of them, as many per host as the instance type has (``local_gpu``: an even
share), fewer when the machine has too few, with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass


class GpuError(Exception):
    """The GPUs cannot be split between the hosts; the message says why."""


@dataclass(frozen=True)
class GpuPlan:
    by_host: dict[str, str]  # host -> "all" or "0,1"
    warning: str | None = None


def device_ids(selection: str | None) -> list[str] | None:
    """A GPU selection (``Local.Gpus``, a host's share: ``all`` or ``0,1``) as device ids;
    None for all of them (or no selection)."""
    if selection is None or selection == "all":
        return None
    return [g.strip() for g in selection.split(",") if g.strip()]


def plan_gpus(selection: str | None, per_instance: int, hosts: list[str], machine: list[str] | None,
              instance_type: str = "") -> GpuPlan:
    """Each host's GPUs. ``per_instance``: the instance type's GPU count (-1: all, as
    ``local_gpu``); ``machine``: this machine's GPU ids, None when they cannot be told."""
    chosen = device_ids(selection)
    pool = chosen if chosen is not None else machine
    if pool is None or not pool:
        # unknown (or none: starting the container says
        # what is missing): every host gets the selection
        warning = None
        if len(hosts) > 1 and pool is None:
            warning = ("this machine's GPUs cannot be listed (no nvidia-smi here), so every host "
                       "gets all of them; give Local.Gpus (or --gpus) to split them "
                       "between the hosts")
        return GpuPlan({host: selection or "all" for host in hosts}, warning)
    if chosen is None and len(hosts) == 1 and per_instance < 0:
        return GpuPlan({hosts[0]: "all"})
    even = len(pool) // len(hosts)
    per, warning = even, None
    if chosen is None and per_instance > 0:
        per = min(per_instance, even)
        if per < per_instance:
            warning = (f"{instance_type or 'the instance type'} has {per_instance} GPU(s) per "
                       "host; this machine has "
                       f"{len(pool)} for {len(hosts)} host(s), so each host gets {per}")
    if per == 0:
        raise GpuError(f"{len(pool)} GPU(s) ({','.join(pool)}) for {len(hosts)} hosts: each host "
                       "needs at least one; run fewer hosts or give more GPUs in Local.Gpus")
    return GpuPlan({host: ",".join(pool[i * per:(i + 1) * per]) for i, host in enumerate(hosts)},
                   warning)
