"""The AWS side of one training job: its clients (built only when it uses AWS), what its
containers get (region, endpoints, a credentials endpoint), and its CloudWatch telemetry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runner.aws.clients import AwsClients, container_environment
from runner.core.redaction import Redactor
from runner.core.specs import Spec
from runner.engines.base import Workspace
from runner.training.context import RunContext
from runner.training.credentials import FOLDER, JobCredentials, for_job, remove_files
from runner.training.job_data import uses_s3


class JobAws:
    """Not thread-safe: the job's own thread calls it (``clients`` also from its data flow's
    threads, once it was first called from the job's)."""

    def __init__(self, spec: Spec, ctx: RunContext, redact: Redactor,
                 warn: Callable[[str], None]) -> None:
        self.spec = spec
        self.ctx = ctx
        self.redact = redact
        self.warn = warn
        self.uses_s3 = uses_s3(spec.request)
        self.uses_cloudwatch = spec.local.cloudwatch
        self.credentials: JobCredentials | None = None  # what the containers' endpoints serve
        self._masking = False

    def clients(self) -> AwsClients:
        """The context's AWS clients; their secrets join what the logs mask."""
        clients = self.ctx.aws_clients()
        if not self._masking:
            self._masking = True
            creds = clients.credentials()
            if creds is not None:
                self.redact.add(creds.secret_key, creds.token)
        return clients

    def container_environment(self, workspaces: dict[str, Workspace]) -> dict[str, str]:
        """The region, endpoints and credentials endpoint of a job that uses AWS, with its
        credentials written and kept current (none with network isolation, as the service);
        AwsError when there are none to give."""
        if not self._serves_credentials():
            return {}
        clients = self.clients()
        self.credentials = for_job(clients, self.spec.request, self.spec.local.assume_role,
                                   workspaces, self.redact, self.warn)
        env = self.credentials.start()
        if self.credentials.source.startswith("your own keys"):
            self.warn(f"the containers get {self.credentials.source}")
        return {**container_environment(clients), **env}

    def credentials_folder(self, host: str) -> str | None:
        return str(self.credentials.folders[host]) if self.credentials else None

    def telemetry(self, name: str, host: str, started: float, gpus: str | None) -> Any:
        """The CloudWatch side of one host when CloudWatch is on, else None."""
        if not self.uses_cloudwatch:
            return None
        from runner.training.telemetry import start_telemetry

        return start_telemetry(self.clients(), name, host, started,
                               self.ctx.backend.instance_metrics, gpus, self.warn)

    def close(self, workspaces: dict[str, Workspace]) -> None:
        """The job ended: its containers' credentials stop being renewed and are deleted
        (also those a runner that died left in ``workspaces``)."""
        if self.credentials is not None:
            self.credentials.stop()
        if self._serves_credentials():
            remove_files(workspace.local_folder(FOLDER) for workspace in workspaces.values())

    def _serves_credentials(self) -> bool:
        return ((self.uses_s3 or self.uses_cloudwatch)
                and not self.spec.request.get("EnableNetworkIsolation"))
