"""The hosts of one training job and their containers: each host's workspace and data flow,
the job's network and GPUs, and the containers made, started, restarted (after a rehearsed
spot interruption) and removed together. ``TrainingRun`` decides when; this does it."""

from __future__ import annotations

from collections.abc import Callable

from runner.contract import instances
from runner.contract.gpus import plan_gpus
from runner.core.specs import Spec
from runner.engines.base import (
    HELPER_JOB_LABEL,
    BackendError,
    EngineLost,
    JobNetwork,
    Workspace,
)
from runner.shapes.status import training_job_arn
from runner.training.container import container_spec
from runner.training.context import RunContext
from runner.training.hosts import network_name
from runner.training.job_aws import JobAws
from runner.training.job_data import DATA_ERRORS, JobData

CREATED_MARKER = "container-created"  # in a host's workspace (not mounted): its container was made


class JobHosts:
    """Used by the job's own thread only."""

    def __init__(self, spec: Spec, ctx: RunContext, hosts: list[str],
                 data: dict[str, JobData], aws: JobAws, warn: Callable[[str], None]) -> None:
        self.spec = spec
        self.request = spec.request
        self.name: str = spec.request["TrainingJobName"]
        self.ctx = ctx
        self.hosts = hosts
        self.data = data
        self.aws = aws
        self.warn = warn
        self.workspaces: dict[str, Workspace] = {}
        self.network: JobNetwork | None = None  # the job's own network (several hosts)
        self.gpus: dict[str, str] = {}  # host -> its GPUs (GPU instance types)
        self.aws_env: dict[str, str] = {}  # what the containers get of AWS

    def open_workspaces(self) -> None:
        self.workspaces = {host: self.ctx.backend.workspace(self.name, host) for host in self.hosts}

    def prepare(self) -> None:
        """Each host's data, the containers' AWS and GPUs, the job's network (several hosts);
        DATA_ERRORS, BackendError or GpuError when one cannot be had."""
        for host in self.hosts:
            self.data[host].prepare(self.workspaces[host])
        self.aws_env = self.aws.container_environment(self.workspaces)
        self.plan_gpus()
        if len(self.hosts) > 1:
            self.network = self.ctx.backend.create_network(
                network_name(self.name), {"smlocal.job": self.name, **self.ctx.extra_labels},
                self.hosts, internal=bool(self.request.get("EnableNetworkIsolation")))

    def plan_gpus(self) -> None:
        """Each host's GPUs (none for a CPU instance type); GpuError when they cannot be
        split."""
        itype = instances.lookup(self.request["ResourceConfig"]["InstanceType"])
        if itype is None or not itype.wants_gpu:
            return
        plan = plan_gpus(self.spec.local.gpus, itype.gpus, self.hosts,
                         self.ctx.backend.gpu_ids(), itype.name)
        if plan.warning:
            self.warn(plan.warning)
        self.gpus = plan.by_host

    def start(self, cids: dict[str, str]) -> str | None:
        """Make and start every host's container into ``cids`` (a marker lets a resume tell
        "never made" from "gone"); the FailureReason when the engine refused one."""
        for host in self.hosts:
            cspec = container_spec(
                self.request, self.spec, self.workspaces[host], host, self.ctx.extra_labels,
                self.aws_env, training_job_arn(self.name), network=self.network,
                gpus=self.gpus.get(host), credentials_folder=self.aws.credentials_folder(host))
            try:
                cids[host] = self.ctx.backend.start(cspec)
            except BackendError as exc:
                self.stop_data(final_sync=False)
                return f"ClientError: {exc}"
            self.workspaces[host].write_text(CREATED_MARKER, "created\n")
        return None

    def restart(self, cids: dict[str, str], advance: Callable[[str], None]) -> str | None:
        """After a rehearsed spot interruption ended the hosts' containers: their checkpoints
        synced a last time, the containers gone (``Interrupted``: no instance, not billed),
        then the job again on fresh volumes seeded from the checkpoints (``Restarting``), as
        SageMaker restarts it on new instances. The FailureReason when it cannot."""
        try:
            self.stop_data()
        except DATA_ERRORS as exc:
            return f"ClientError: could not upload the checkpoints: {exc}"
        advance("Interrupted")
        for host in list(cids):
            self.ctx.backend.remove(cids[host])
            del cids[host]
        advance("Restarting")
        try:
            for host in self.hosts:
                self.workspaces[host].reset()
                self.data[host].prepare(self.workspaces[host])
        except (*DATA_ERRORS, BackendError) as exc:
            return f"ClientError: {exc}"
        advance("Training")
        refused = self.start(cids)
        if refused is None:
            for host in cids:
                self.data[host].start()
        return refused

    def stop_data(self, final_sync: bool = True) -> None:
        """Stop every host's data flow; the first error (a last checkpoint sync) is raised
        once every host was stopped."""
        first: BaseException | None = None
        for data in self.data.values():
            try:
                data.stop(final_sync)
            except DATA_ERRORS as exc:
                first = first or exc
        if first is not None:
            raise first

    def _remove(self, cid: str) -> None:
        try:
            self.ctx.backend.remove(cid)
        except EngineLost as exc:
            self.warn(f"container {cid[:12]} could not be removed: {exc}")

    def clean_up(self, cids: dict[str, str]) -> None:
        """Remove the containers and the job's network; hand the workspaces back."""
        backend = self.ctx.backend
        self.aws.close(self.workspaces)
        try:
            for cid in cids.values():
                self._remove(cid)
            try:  # any helper beside them (its container gone, or never made)
                helpers = backend.find({HELPER_JOB_LABEL: self.name})
            except EngineLost:
                helpers = []
            for cid in helpers:
                self._remove(cid)
            if len(self.hosts) > 1:
                try:
                    backend.remove_network(network_name(self.name))
                except BackendError as exc:
                    self.warn(str(exc))
        finally:
            for workspace in self.workspaces.values():
                workspace.reclaim()
