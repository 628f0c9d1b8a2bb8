"""A training job, from request to artifacts: the shell around the pure parts.

It records every step in the store as it happens (so other processes can describe, follow
and stop it), talks to containers only through a ``Backend``, and reads time from a ``Clock``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runner import files, instances, status
from runner.aws import AwsClients
from runner.backend import Backend, BackendError, ExitStatus, Workspace
from runner.clock import Clock, SystemClock
from runner.container import container_spec
from runner.job_data import DATA_ERRORS, JobData, uses_s3
from runner.logpump import LogSink, MetricListener
from runner.metrics import MetricSample, MetricScraper, compile_definitions
from runner.redaction import Redactor
from runner.specs import Spec
from runner.staging import ObjectCache
from runner.store import Store

POLL_SECONDS = 0.2
HOST = "algo-1"
Echo = Callable[[str, str, str], None]
log = logging.getLogger("smlocal")


def training_job_arn(name: str) -> str:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return f"arn:aws:sagemaker:{region}:000000000000:training-job/{name.lower()}"


def tuning_job_arn(name: str) -> str:
    return training_job_arn(name).replace(":training-job/", ":hyper-parameter-tuning-job/")


@dataclass
class RunContext:
    store: Store
    backend: Backend
    clock: Clock = field(default_factory=SystemClock)
    echo: Echo | None = None
    on_metric: MetricListener | None = None
    extra_labels: dict[str, str] = field(default_factory=dict)
    # AWS clients for s3:// locations and CloudWatch; built from the environment on first
    # need (a job with file:// paths only and CloudWatch off never builds any).
    aws: AwsClients | None = None

    def aws_clients(self) -> AwsClients:
        if self.aws is None:
            self.aws = AwsClients()
        return self.aws


class TrainingRun:
    """One training job's life. ``create()`` records it; ``run()`` runs it to its end."""

    def __init__(
        self, spec: Spec, ctx: RunContext, tuning_job: str | None = None, on_metric: MetricListener | None = None
    ) -> None:
        self.spec = spec
        self.request = spec.request
        self.name: str = spec.request["TrainingJobName"]
        self.ctx = ctx
        self.tuning_job = tuning_job
        self.on_metric = on_metric or ctx.on_metric
        defs, _ = compile_definitions(self.request["AlgorithmSpecification"].get("MetricDefinitions") or [])
        self.scraper = MetricScraper(defs)
        self.record: dict[str, Any] = {}
        self._stop_reason: str | None = None  # "Stopped" or "MaxRuntimeExceeded"
        self._data_failure: str | None = None  # a Pipe channel's data could not be read
        self._sink: LogSink | None = None
        self.uses_s3 = uses_s3(self.request)
        self.uses_cloudwatch = spec.local.cloudwatch
        self.redact = Redactor()
        self._masking_aws = False
        self.data = JobData(
            spec, self._aws, ObjectCache(ctx.store.home / "cache" / "s3"), HOST, [HOST],
            on_error=self._on_data_failure, warn=self._warn,
        )

    def create(self) -> dict[str, Any]:
        now = self.ctx.clock.now()
        self.record = status.new_record(self.request, training_job_arn(self.name), now)
        for key in _ECHOED_FIELDS:
            if key in self.request:
                self.record[key] = self.request[key]
        if self.tuning_job:
            self.record["TuningJobArn"] = tuning_job_arn(self.tuning_job)
        self.ctx.store.create_training_job(self.record, self.request, self.spec.local.to_json(), self.tuning_job)
        return self.record

    def run(self) -> dict[str, Any]:
        """Run a created job from its start to its end."""
        return self._run(None, fresh=True)

    def resume(self) -> dict[str, Any]:
        """Carry on with a job a previous smlocal process left InProgress: reattach to its
        container if it still exists (running or ended), else start it if it never started."""
        self.record = self.ctx.store.record(self.name)
        if status.is_terminal(self.record):
            return self.record
        found = self.ctx.backend.find({"smlocal.job": self.name, "smlocal.host": HOST})
        if found:
            return self._run(found[0], fresh=False)
        if self.record["SecondaryStatus"] in ("Starting", "Downloading"):
            self.record["SecondaryStatusTransitions"] = self.record["SecondaryStatusTransitions"][:1]
            self.record["SecondaryStatus"] = "Starting"
            self.record["SecondaryStatusTransitions"][0].pop("EndTime", None)
            return self._run(None, fresh=True)
        workspace = self.ctx.backend.workspace(self.name, HOST)
        self._finish(workspace, None, "InternalServerError: the container of this job is gone (smlocal stopped while it ran and it was removed)")
        return self.record

    def _aws(self) -> AwsClients:
        """The context's AWS clients; their secrets join what the logs mask."""
        clients = self.ctx.aws_clients()
        if not self._masking_aws:
            self._masking_aws = True
            creds = clients.credentials()
            if creds is not None:
                self.redact.add(creds.secret_key, creds.token)
        return clients

    def _run(self, cid: str | None, fresh: bool) -> dict[str, Any]:
        workspace: Workspace | None = None
        try:
            workspace = self.ctx.backend.workspace(self.name, HOST)
            since = None
            if fresh:
                self._advance("Downloading")
                try:
                    self.data.prepare(workspace)
                    aws_env = self.data.container_environment() if self.uses_s3 or self.uses_cloudwatch else {}
                except (*DATA_ERRORS, BackendError) as exc:
                    self._finish(workspace, None, f"ClientError: {exc}")
                    return self.record
                cspec = container_spec(self.request, self.spec, workspace, HOST, self.ctx.extra_labels, aws_env,
                                       training_job_arn(self.name))
                self._advance("Training")
                try:
                    cid = self.ctx.backend.start(cspec)
                except BackendError as exc:
                    self.data.stop(final_sync=False)
                    self._finish(workspace, None, f"ClientError: {exc}")
                    return self.record
            else:
                since = self.ctx.store.last_log_time(self.name)
                if self.ctx.store.stop_requested(self.name) and self.record["SecondaryStatus"] == "Stopping":
                    self._stop_reason = "Stopped"
                self.data.reattach(workspace)
            assert cid is not None
            self.data.start()
            exit_status = self._supervise(cid, since)
            error = self._data_failure
            try:
                self.data.stop()
            except DATA_ERRORS as exc:
                error = error or f"ClientError: could not upload the checkpoints: {exc}"
            self._finish(workspace, exit_status, error)
        except KeyboardInterrupt:
            if cid is not None:
                self.ctx.backend.signal(cid, "SIGKILL")
            self.data.stop(final_sync=False)
            if not status.is_terminal(self.record):
                self._stop_reason = "Stopped"
                self._finish(workspace, None, None)
            raise
        except BaseException as exc:
            self.data.stop(final_sync=False)
            if not status.is_terminal(self.record):
                self._finish(workspace, None, f"InternalServerError: smlocal failed: {exc.__class__.__name__}: {exc}")
            raise
        finally:
            if cid is not None:
                self.ctx.backend.remove(cid)
            if workspace is not None:
                workspace.reclaim()
        return self.record

    def _on_data_failure(self, message: str) -> None:
        if self._data_failure is None:
            self._data_failure = f"ClientError: {message}"

    def _warn(self, message: str) -> None:
        log.warning("smlocal: training job %s: %s", self.name, self.redact(message))

    # -- while the container runs ------------------------------------------------------------
    def _supervise(self, cid: str, since: float | None) -> ExitStatus:
        backend, clock = self.ctx.backend, self.ctx.clock
        started = _training_started(self.record, clock.now())
        telemetry = self._telemetry(started)
        on_metric = self.on_metric
        if telemetry is not None:
            on_metric = _both(self.on_metric, telemetry.metric)
            telemetry.watch(cid)
        sink = LogSink(self.ctx.store, self.name, self.scraper, self.ctx.echo, on_metric, after=since,
                       redact=self.redact, on_line=telemetry.line if telemetry is not None else None)
        self._sink = sink
        pumps = [
            threading.Thread(target=sink.pump, args=(HOST, backend.logs(cid, s, since)), daemon=True)
            for s in ("stdout", "stderr")
        ]
        for t in pumps:
            t.start()
        done = threading.Event()
        result: list[ExitStatus] = []

        def waiter() -> None:
            try:
                result.append(backend.wait(cid))
            finally:
                done.set()

        threading.Thread(target=waiter, daemon=True).start()
        max_runtime = (self.request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        kill_at: float | None = None
        failing = False
        grace = self.spec.local.stop_grace_seconds
        if self._stop_reason is not None:  # resumed while stopping: the SIGTERM went out before
            kill_at = clock.now() + grace
        while not done.wait(POLL_SECONDS):
            sink.flush()
            now = clock.now()
            if self._stop_reason is None:
                if self.ctx.store.stop_requested(self.name):
                    self._stop_reason = "Stopped"
                    self._advance("Stopping")
                elif max_runtime and now - started >= max_runtime:
                    self._stop_reason = "MaxRuntimeExceeded"
                if self._stop_reason is not None:
                    backend.signal(cid, "SIGTERM")
                    kill_at = now + grace
                elif self._data_failure is not None and not failing:
                    failing = True  # the job fails: stop the container as a stop would
                    backend.signal(cid, "SIGTERM")
                    kill_at = now + grace
            if kill_at is not None and now >= kill_at:
                backend.signal(cid, "SIGKILL")
                kill_at = None
        for t in pumps:
            t.join(timeout=30)
        sink.flush()
        if telemetry is not None:
            telemetry.close()
        return result[0] if result else ExitStatus(code=-1, error="lost track of the container")

    def _telemetry(self, started: float) -> Any:
        """The CloudWatch side of the job when CloudWatch is on, else None."""
        if not self.uses_cloudwatch:
            return None
        from runner.telemetry import Telemetry

        telemetry = Telemetry(self._aws(), self.name, HOST, started, sampler=self.ctx.backend.instance_metrics,
                              gpus=self._gpus(), warn=self._warn)
        try:
            telemetry.start()
        except Exception as exc:
            from runner.aws import error_message

            self._warn(f"CloudWatch is on but the log stream cannot be created, so nothing is shipped: {error_message(exc)}")
            return None
        return telemetry

    def _gpus(self) -> str | None:
        itype = instances.lookup(self.request["ResourceConfig"]["InstanceType"])
        return (self.spec.local.gpus or "all") if itype is not None and itype.wants_gpu else None

    # -- the end -----------------------------------------------------------------------------
    def _finish(self, workspace: Workspace | None, exit_status: ExitStatus | None, error: str | None) -> None:
        failure: str | None = error
        if failure is None and exit_status is not None and self._stop_reason is None and exit_status.code != 0:
            text = workspace.read_text("output/failure", files.FAILURE_REASON_MAX) if workspace else None
            failure = files.failure_reason(text) or self._our_failure_reason(exit_status)
        final = self._stop_reason or ("Failed" if failure else "Completed")
        if final == "Completed":
            self._advance("Uploading")
        if workspace is not None:
            try:
                self._upload(workspace)
            except DATA_ERRORS as exc:
                if final == "Completed":
                    final, failure = "Failed", f"ClientError: could not write the model artifacts: {exc}"
        if exit_status is not None:
            self.record["ExitCode"] = exit_status.code  # not in AWS's shape; kept out of describe
        if failure:
            self.record["FailureReason"] = self.redact(failure)[: files.FAILURE_REASON_MAX]
        final_metrics = final_metric_data(self.scraper, self.ctx.store.metric_series(self.name))
        if final_metrics:
            self.record["FinalMetricDataList"] = final_metrics
        self._advance(final)

    def _upload(self, workspace: Workspace) -> None:
        self.record["ModelArtifacts"] = {"S3ModelArtifacts": self.data.upload(workspace)}
        self.record["OutputDataConfig"] = dict(self.request["OutputDataConfig"])

    def _our_failure_reason(self, exit_status: ExitStatus) -> str:
        if exit_status.code == 137 and not exit_status.oom_killed:
            # SIGKILL that neither we nor the kernel's OOM killer sent: the host took the
            # container away (docker kill, a daemon restart), as an instance failure would.
            head = (
                "InternalServerError: the container was killed from outside smlocal "
                "(exit code 137, not an out-of-memory kill)."
            )
        elif exit_status.oom_killed:
            head = (
                f"AlgorithmError: the container ran out of memory and was killed (OOM, exit code "
                f"{exit_status.code}; instance type {self.request['ResourceConfig']['InstanceType']})."
            )
        else:
            head = f"AlgorithmError: the container exited with code {exit_status.code}."
        if exit_status.error:
            head += f" Docker: {exit_status.error}."
        return with_log_tail(head, list(self._sink.tail) if self._sink else [], files.FAILURE_REASON_MAX)

    def _advance(self, secondary: str) -> None:
        status.advance(self.record, secondary, self.ctx.clock.now())
        self.ctx.store.save_record(self.record)


_ECHOED_FIELDS = (
    "HyperParameters", "AlgorithmSpecification", "RoleArn", "InputDataConfig", "OutputDataConfig",
    "ResourceConfig", "StoppingCondition", "VpcConfig", "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining", "CheckpointConfig",
    "Environment", "RetryStrategy", "DebugHookConfig", "TensorBoardOutputConfig", "ProfilerConfig",
)


def _training_started(record: dict[str, Any], default: float) -> float:
    for step in record.get("SecondaryStatusTransitions", []):
        if step["Status"] == "Training":
            return float(step["StartTime"])
    return default


def final_metric_data(scraper: MetricScraper, series: dict[str, list[tuple[float, float]]]) -> list[dict[str, Any]]:
    """FinalMetricDataList: the last value of each defined metric, in definition order, from
    the stored series (so a resumed job counts the values seen before the resume too)."""
    out = []
    for definition in scraper.definitions:
        points = series.get(definition.name)
        if points:
            ts, value = points[-1]
            out.append({"MetricName": definition.name, "Value": value, "Timestamp": ts})
    return out


def with_log_tail(head: str, tail: list[str], limit: int, line_limit: int = 200) -> str:
    """``head`` and as many of the last log lines as fit in ``limit`` characters."""
    text = head[:limit]
    kept: list[str] = []
    room = limit - len(text) - len(" Last log lines:")
    for line in reversed(tail):
        line = line if len(line) <= line_limit else line[: line_limit - 3] + "..."
        if len(line) + 1 > room:
            break
        kept.append(line)
        room -= len(line) + 1
    if kept:
        text += " Last log lines:\n" + "\n".join(reversed(kept))
    return text


def _both(first: MetricListener | None, second: MetricListener) -> MetricListener:
    if first is None:
        return second

    def both(sample: MetricSample) -> None:
        first(sample)
        second(sample)

    return both
