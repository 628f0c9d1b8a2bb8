"""The container one host of a training job runs: image, invocation, environment, mounts,
limits (a pure function of the request, the options and the workspace)."""

from __future__ import annotations

from typing import Any

from runner.aws.clients import HOST_ALIAS, needs_host_alias
from runner.contract import instances
from runner.core.specs import Spec
from runner.engines.base import ContainerSpec, JobNetwork, Workspace


def container_name(job: str, host: str) -> str:
    return f"smlocal-{job}-{host}"


def container_spec(
    request: dict[str, Any], spec: Spec, workspace: Workspace, host: str, labels: dict[str, str],
    aws_env: dict[str, str] | None = None, job_arn: str = "", network: JobNetwork | None = None,
    gpus: str | None = None, credentials_folder: str | None = None,
) -> ContainerSpec:
    """The container one host of the job runs: image, invocation, environment, mounts, limits.

    ``gpus``: this host's share of the GPUs (runner.contract.gpus) for a GPU instance type.
    ``aws_env``: the region, endpoints and credentials endpoint (its ``credentials_folder``)
    of a job that uses AWS.
    ``network``: the job's own network (several hosts), on which the host is known by its
    name; with ``EnableNetworkIsolation`` that network is an internal one (the hosts reach
    each other, nothing else), as the service keeps inter-container traffic."""
    algo = request["AlgorithmSpecification"]
    name = request["TrainingJobName"]
    entrypoint = algo.get("ContainerEntrypoint")
    arguments = algo.get("ContainerArguments")
    command = list(arguments) if arguments is not None else ([] if entrypoint else ["train"])
    isolated = bool(request.get("EnableNetworkIsolation"))
    env = {} if isolated else dict(aws_env or {})  # as the service: no AWS access when isolated
    env.update({str(k): str(v) for k, v in (request.get("Environment") or {}).items()})
    env["TRAINING_JOB_NAME"] = name
    env["TRAINING_JOB_ARN"] = job_arn
    itype = instances.lookup(request["ResourceConfig"]["InstanceType"])
    if itype is None or not itype.wants_gpu:
        gpus = None
    elif gpus is None:  # no share given for this host: the job's selection
        gpus = spec.local.gpus or "all"
    return ContainerSpec(
        name=container_name(name, host),
        image=algo["TrainingImage"],
        hostname=host,
        entrypoint=list(entrypoint) if entrypoint else None,
        command=command,
        environment=env,
        mounts=workspace.mounts(),
        labels={"smlocal.job": name, "smlocal.host": host, **labels},
        cpus=itype.vcpus if itype else None,
        memory_bytes=itype.memory_bytes if itype else None,
        gpus=gpus,
        network_isolation=isolated and network is None,
        network=network.name if network else None,
        network_aliases=[host] if network else [],
        network_address=network.addresses.get(host) if network else None,
        # Without a network Docker writes no entry for the hostname; SageMaker's hosts resolve.
        extra_hosts=_extra_hosts(host, isolated, network, env),
        credentials_folder=None if isolated else credentials_folder,
        init=spec.local.init_process,
    )


def _extra_hosts(
    host: str, isolated: bool, network: JobNetwork | None, env: dict[str, str]
) -> dict[str, str]:
    if network is not None:
        # every other host by its fixed address: it resolves also once its container ended
        others = {h: ip for h, ip in network.addresses.items() if h != host}
        return others if isolated else {**others, **_host_alias(env)}
    if isolated:
        return {host: "127.0.0.1"}
    return _host_alias(env)


def _host_alias(env: dict[str, str]) -> dict[str, str]:
    """A loopback AWS endpoint is reached through the Docker host's gateway."""
    return {HOST_ALIAS: "host-gateway"} if needs_host_alias(env) else {}
