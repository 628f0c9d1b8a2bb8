"""A training job, from request to artifacts: the shell around the pure parts.

It records every step in the store as it happens (so other processes can describe, follow
and stop it), talks to containers only through a ``Backend``, and reads time from a ``Clock``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from runner.contract import paths as files
from runner.contract.gpus import GpuError
from runner.contract.metrics import MetricScraper, compile_definitions
from runner.core.redaction import Redactor
from runner.core.specs import Spec
from runner.engines.base import (
    BackendError,
    ExitStatus,
    Workspace,
    WorkspaceEscape,
)
from runner.shapes import status
from runner.shapes.status import training_job_arn, tuning_job_arn
from runner.store.base import StoreFull
from runner.training import failures
from runner.training.admission import admit_job
from runner.training.context import RunContext, training_started
from runner.training.hosts import Ended, HostSupervisor
from runner.training.job_aws import JobAws
from runner.training.job_data import DATA_ERRORS, JobData
from runner.training.job_hosts import CREATED_MARKER, JobHosts
from runner.training.logpump import LogSink, MetricListener, both_listeners
from runner.training.staging import ObjectCache

HOST = "algo-1"  # the first host: its model and output are the job's artifacts
log = logging.getLogger("smlocal")


class TrainingRun:
    """One training job's life. ``create()`` records it; ``run()`` runs it to its end."""

    def __init__(
        self, spec: Spec, ctx: RunContext, tuning_job: str | None = None,
        on_metric: MetricListener | None = None
    ) -> None:
        self.spec = spec
        self.request = spec.request
        self.name: str = spec.request["TrainingJobName"]
        self.ctx = ctx
        self.tuning_job = tuning_job
        self.on_metric = on_metric or ctx.on_metric
        defs, _ = compile_definitions(
            self.request["AlgorithmSpecification"].get("MetricDefinitions") or [])
        self.scraper = MetricScraper(defs, warn=lambda message: self._warn(message))
        self.record: dict[str, Any] = {}
        self._stop_reason: str | None = None  # "Stopped" or "MaxRuntimeExceeded"
        # fails the job and stops its hosts (a Pipe channel's data)
        self._failure: str | None = None
        self._sink: LogSink | None = None
        self.redact = Redactor()
        self.aws = JobAws(spec, ctx, self.redact, self._warn)
        self.hosts = files.host_names(int(self.request["ResourceConfig"].get("InstanceCount") or 1))
        cache = ObjectCache(ctx.store.home / "cache" / "s3")
        self.host_data = {
            host: JobData(spec, self.aws.clients, cache, host, self.hosts,
                          on_error=self._on_failure, warn=self._warn)
            for host in self.hosts
        }
        self.data = self.host_data[HOST]
        self.job_hosts = JobHosts(spec, ctx, self.hosts, self.host_data, self.aws, self._warn)
        self._release: Callable[[], None] = lambda: None  # gives back the job's admission
        self._interrupted = False  # a rehearsed spot interruption ended the containers
        self._resumed = False  # carried on after its runner died

    def create(self) -> dict[str, Any]:
        now = self.ctx.clock.now()
        self.record = status.new_record(self.request, training_job_arn(self.name), now)
        status.echo_request(self.record, self.request)
        if self.tuning_job:
            self.record["TuningJobArn"] = tuning_job_arn(self.tuning_job)
        self.ctx.store.create_training_job(self.record, self.request, self.spec.stored_local(),
                                           self.tuning_job)
        return self.record

    def run(self) -> dict[str, Any]:
        """Run a created job from its start to its end."""
        return self._run({}, fresh=True)

    def resume(self) -> dict[str, Any]:
        """Carry on with a job a previous smlocal process left InProgress: reattach to its
        hosts' containers if they all still exist (running or ended), else start it if it
        never started (a host whose container is gone fails the job; a job asked to stop
        whose containers are gone ends Stopped)."""
        self.record = self.ctx.store.record(self.name)
        if status.is_terminal(self.record):
            return self.record
        found: dict[str, str] = {}
        for host in self.hosts:
            ids = self.ctx.backend.find({"smlocal.job": self.name, "smlocal.host": host})
            if ids:
                found[host] = ids[0]
        if len(found) == len(self.hosts):
            return self._run(found, fresh=False)
        stopping = self.ctx.store.stop_requested(self.name)
        self.job_hosts.open_workspaces()
        workspaces = self.job_hosts.workspaces
        gone = [host for host in self.hosts if host not in found]
        never = [host for host in gone if workspaces[host].read_text(CREATED_MARKER, 1) is None]
        if not found and stopping:
            self._stop_reason = "Stopped"  # stopped before (or while) its containers were made
        elif (not found
              and (never == gone or self.record["SecondaryStatus"] in ("Starting", "Downloading"))):
            self.record["SecondaryStatusTransitions"] = (
                self.record["SecondaryStatusTransitions"][:1])
            self.record["SecondaryStatus"] = "Starting"
            self.record["SecondaryStatusTransitions"][0].pop("EndTime", None)
            return self._run({}, fresh=True)
        elif never == gone:  # smlocal was stopped while it started the hosts' containers
            if not stopping:  # (a stop asked for meanwhile ends it Stopped instead)
                self._failure = (
                    f"InternalServerError: smlocal stopped while it started the job's containers: "
                    f"host(s) {', '.join(gone)} never started, so the others were stopped"
                )
            return self._run(found, fresh=False)
        what = ("the container of this job is" if len(self.hosts) == 1
                else f"the container(s) of host(s) {', '.join(gone)} are")
        error = None if self._stop_reason else (f"InternalServerError: {what} gone (smlocal "
                                                "stopped while it ran and it was removed)")
        try:
            self._finish(None, error)
        finally:
            self._clean_up(found)
        return self.record

    def _run(self, cids: dict[str, str], fresh: bool) -> dict[str, Any]:
        backend = self.ctx.backend
        hosts = self.job_hosts
        self._resumed = not fresh
        try:
            hosts.open_workspaces()
            since = None
            if fresh:
                if not self._admit():  # stopped while it waited for capacity
                    self._stop_reason = "Stopped"
                    self._finish(None, None)
                    return self.record
                self._advance("Downloading")
                try:
                    hosts.prepare()
                except (*DATA_ERRORS, BackendError, GpuError) as exc:
                    self._finish(None, f"ClientError: {exc}")
                    return self.record
                self._advance("Training")
                refused = hosts.start(cids)
                if refused is not None:
                    self._finish(None, refused)
                    return self.record
            else:
                self._admit(at_once=True)  # its containers hold their share already
                since = self.ctx.store.last_log_time(self.name)
                if (self.ctx.store.stop_requested(self.name)
                        and self.record["SecondaryStatus"] == "Stopping"):
                    self._stop_reason = "Stopped"
                for host in cids:
                    self.host_data[host].reattach(hosts.workspaces[host])
                with contextlib.suppress(*DATA_ERRORS):  # its containers have the last ones
                    self.aws.container_environment(hosts.workspaces)
                with contextlib.suppress(GpuError):
                    hosts.plan_gpus()  # which GPUs each host's instance metrics read
            for host in cids:
                self.host_data[host].start()
            ended = self._supervise(cids, since)
            while self._interrupted:  # a rehearsed spot interruption: on new instances again
                self._interrupted = False
                if self.ctx.store.stop_requested(self.name):  # asked meanwhile: no restart
                    self._stop_reason = "Stopped"
                    break
                refused = hosts.restart(cids, self._advance)
                if refused is not None:
                    self._finish(None, refused)
                    return self.record
                ended = self._supervise(cids, None)
            error = self._failure
            try:
                self.job_hosts.stop_data()
            except DATA_ERRORS as exc:
                error = error or f"ClientError: could not upload the checkpoints: {exc}"
            self._finish(ended, error)
        except KeyboardInterrupt:
            for cid in cids.values():
                backend.signal(cid, "SIGKILL")
            self.job_hosts.stop_data(final_sync=False)
            if not status.is_terminal(self.record):
                self._stop_reason = "Stopped"
                self._finish(None, None)
            raise
        except StoreFull:  # nothing more can be recorded: said as the machine's fault
            self.job_hosts.stop_data(final_sync=False)
            raise
        except BaseException as exc:
            self.job_hosts.stop_data(final_sync=False)
            if not status.is_terminal(self.record):
                reason = f"InternalServerError: smlocal failed: {exc.__class__.__name__}: {exc}"
                try:
                    self._finish(None, reason)
                except Exception:  # no artifacts then, but never a record left InProgress
                    self.record["FailureReason"] = self.redact(reason)[: files.FAILURE_REASON_MAX]
                    self._advance("Failed")
            raise
        finally:
            self._clean_up(cids)
        return self.record

    def _admit(self, at_once: bool = False) -> bool:
        """The job's share of the machine, waited for in Starting (False: a stop came first)."""
        if self.ctx.admission is None:
            return True
        release = admit_job(self.ctx.admission, self.request, self._waiting,
                            lambda: self.ctx.store.stop_requested(self.name), at_once)
        self._release = release or self._release
        return release is not None

    def _waiting(self, why: str) -> None:
        self.record["SecondaryStatusTransitions"][-1]["StatusMessage"] = why
        self._advance_nothing()

    def _clean_up(self, cids: dict[str, str]) -> None:
        """Remove the containers and the job's network; hand the workspaces back (and the
        job's share of the machine)."""
        self._release()
        self.job_hosts.clean_up(cids)

    def _on_failure(self, message: str) -> None:
        if self._failure is None:
            self._failure = f"ClientError: {message}"

    def _warn(self, message: str) -> None:
        log.warning("smlocal: training job %s: %s", self.name, self.redact(message))

    # -- while the container runs ------------------------------------------------------------
    def _supervise(self, cids: dict[str, str], since: float | None) -> Ended:
        clock = self.ctx.clock
        started = training_started(self.record, clock.now())
        telemetry = {host: t for host in self.hosts if (t := self.aws.telemetry(
            self.name, host, started, self.job_hosts.gpus.get(host))) is not None}
        on_metric = self.on_metric
        if telemetry:
            first = next(iter(telemetry.values()))
            on_metric = both_listeners(self.on_metric, first.metric)  # job metrics: one publisher
            for host, t in telemetry.items():
                t.watch(cids[host])

        def on_line(host: str, stream: str, ts: float, line: str) -> None:
            if host in telemetry:
                telemetry[host].line(host, stream, ts, line)

        sink = LogSink(self.ctx.store, self.name, self.scraper, self.ctx.echo, on_metric,
                       after=since, max_lines=self._log_room(),
                       redact=self.redact, on_line=on_line if telemetry else None)
        self._sink = sink
        max_runtime = (self.request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        # the runtime: on the wall clock before this process (a resumed job's), then on the
        # monotonic one (a step of the wall clock is no time spent training)
        ran = max(clock.now() - started, 0.0) - clock.monotonic()
        interrupt_at = self._next_interruption(clock.monotonic())

        def tick(now: float) -> bool:
            if self.ctx.store.stop_requested(self.name):
                self._stop_reason = "Stopped"
                self._advance("Stopping")
            elif max_runtime and ran + now >= max_runtime:
                self._stop_reason = "MaxRuntimeExceeded"
            elif interrupt_at is not None and now >= interrupt_at:
                self._interrupted = True  # SIGTERM, the grace, SIGKILL: as a spot reclaim
            # a Pipe channel's data failed: the job fails, its hosts stop as a stop would
            return (self._stop_reason is not None or self._failure is not None
                    or self._interrupted)

        supervisor = HostSupervisor(self.ctx.backend, clock, cids,
                                    self.spec.local.stop_grace_seconds,
                                    stopping=self._stop_reason is not None, progress=self._warn,
                                    engine_wait=self.spec.local.engine_wait_seconds)
        try:
            ended = supervisor.run(sink, since, tick)
            if self._stop_reason is not None or self._failure is not None:
                self._interrupted = False  # a stop or a failure meanwhile ends the job
            for note in sink.notes(self.spec.local.max_log_lines):
                self._warn(note)
            if sink.unstored:  # said in the log itself too, where a reader of it looks
                self.ctx.store.add_logs(self.name, [("smlocal", "stderr", clock.now(), (
                    f"[smlocal: {sink.unstored:,} lines past Local.MaxLogLines were not stored]"))])
            return ended
        finally:
            for t in telemetry.values():
                t.close()

    def _next_interruption(self, now: float) -> float | None:
        """When (monotonic) the next rehearsed interruption comes: ``Local.Interruptions``'
        next entry's seconds after the containers (re)started now. None for a job carried on
        after its runner died (its network and containers' environment are not rebuilt)."""
        if self._resumed:
            return None
        done = sum(t["Status"] == "Interrupted" for t in self.record["SecondaryStatusTransitions"])
        planned = self.spec.local.interruptions
        return now + planned[done] if done < len(planned) else None

    def _log_room(self) -> int:
        """How many more lines the store takes for this job (a resumed job has some)."""
        return max(self.spec.local.max_log_lines - self.ctx.store.log_count(self.name), 0)

    # -- the end -----------------------------------------------------------------------------
    def _finish(self, ended: Ended | None, error: str | None) -> None:
        failure: str | None = error
        failed = ended.first_failure(self.hosts) if ended is not None else None
        if failure is None and ended is not None and failed is not None:
            how = ended.statuses[failed]
            failure = failures.host_failure(how, self._stop_reason is not None,
                                            self.job_hosts.workspaces.get(failed),
                                            lambda: self._our_failure_reason(failed, how))
        final = self._stop_reason or ("Failed" if failure else "Completed")
        if final == "Completed":
            self._advance("Uploading")
        workspace = self.job_hosts.workspaces.get(HOST)  # SageMaker's artifacts: the first's
        if workspace is not None:
            try:
                self._upload(workspace)
            except WorkspaceEscape as exc:  # the algorithm's doing: its failure, not ours
                if final != "Stopped":
                    final, failure = ("Failed",
                                      failure or f"AlgorithmError: {failures.escape_reason(exc)}")
            except DATA_ERRORS as exc:
                if final == "Completed":
                    final, failure = ("Failed",
                                      f"ClientError: could not write the model artifacts: {exc}")
        exit_status = ended.statuses.get(failed or HOST) if ended is not None else None
        if exit_status is not None:
            self.record["ExitCode"] = exit_status.code  # not in AWS's shape; kept out of describe
        if failure:
            self.record["FailureReason"] = self.redact(failure)[: files.FAILURE_REASON_MAX]
        points = self.ctx.store.last_metric_points(self.name)
        if self._sink is not None:  # the last samples a full disk kept out of the store
            points.update({name: [p] for name, p in self._sink.held_metrics.items()})
        final_metrics = status.final_metric_data(self.scraper, points)
        if final_metrics:
            self.record["FinalMetricDataList"] = final_metrics
        self._advance(final)

    def _upload(self, workspace: Workspace) -> None:
        uri = self.data.upload(workspace)
        if uri is None:  # its containers never started: no artifacts, as in SageMaker
            return
        self.record["ModelArtifacts"] = {"S3ModelArtifacts": uri}
        self.record["OutputDataConfig"] = dict(self.request["OutputDataConfig"])

    def _our_failure_reason(self, host: str, exit_status: ExitStatus) -> str:
        tail = list(self._sink.host_tails.get(host, ())) if self._sink else []
        several = host if len(self.hosts) > 1 else None
        return failures.exit_reason(exit_status, self.request["ResourceConfig"]["InstanceType"],
                                    several, tail)

    def _advance_nothing(self) -> None:
        self.record["LastModifiedTime"] = self.ctx.clock.now()
        self.ctx.store.save_record(self.record)

    def _advance(self, secondary: str) -> None:
        status.advance(self.record, secondary, self.ctx.clock.now())
        self.ctx.store.save_record(self.record)
