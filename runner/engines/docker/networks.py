"""Docker networks: a job's own (several hosts, fixed addresses) and the default bridge's."""

from __future__ import annotations

import ipaddress
from typing import Any

from runner.engines.base import BackendError, JobNetwork


def create_network(
    api: Any, name: str, labels: dict[str, str], hosts: list[str], internal: bool
) -> JobNetwork:
    """Docker gives fixed addresses only on a network created with its subnet: let the
    engine pick a free subnet, then create the network again with that subnet given."""
    import docker.errors
    from docker.types import IPAMConfig, IPAMPool

    try:
        remove_network(api, name)  # a job started again
        created = api.create_network(name, driver="bridge", internal=internal, labels=labels)
        config = (api.inspect_network(created["Id"]).get("IPAM") or {}).get("Config") or [{}]
        api.remove_network(created["Id"])
        subnet = ipaddress.ip_network(config[0]["Subnet"])
        pool = list(subnet.hosts())
        gateway = str(config[0].get("Gateway") or pool[0])
        api.create_network(name, driver="bridge", internal=internal, labels=labels,
                           ipam=IPAMConfig(pool_configs=[
                               IPAMPool(subnet=str(subnet), gateway=gateway)]))
    except (docker.errors.APIError, KeyError, ValueError) as exc:
        detail = exc.explanation if isinstance(exc, docker.errors.APIError) else exc
        raise BackendError(f"cannot create the job's network {name!r}: {detail}") from None
    free = [str(ip) for ip in pool if str(ip) != gateway]
    return JobNetwork(name, dict(zip(hosts, free[9:], strict=False)))


def remove_network(api: Any, name: str) -> None:
    import docker.errors

    try:
        api.remove_network(name)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        raise BackendError(f"cannot remove the job's network: {exc.explanation or exc}") from None


def host_gateway(api: Any) -> str:
    config = (api.inspect_network("bridge").get("IPAM") or {}).get("Config") or [{}]
    gateway = config[0].get("Gateway")
    if not gateway:
        gateway = str(
            next(ipaddress.ip_network(config[0].get("Subnet") or "172.17.0.0/16").hosts()))
    return str(gateway)
