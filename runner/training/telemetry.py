"""A training job's CloudWatch side: its log stream, its metrics and its instance metrics.

Built only when CloudWatch is on (``Local.CloudWatch: true`` or ``smlocal train
--cloudwatch``). Log lines and scraped metric values come in from the log pump as they are
read; instance metrics are sampled from the backend while the container runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from runner.aws.clients import AwsClients
from runner.aws.cloudwatch import Datum, LogShipper, MetricPublisher, log_stream_name
from runner.contract.metrics import MetricSample

DEFAULT_SAMPLE_SECONDS = 10.0
#: (container id, the job's Gpus option) -> metric name -> value; {} when the container is gone.
InstanceSampler = Callable[[str, str | None], dict[str, float]]


class Telemetry:
    def __init__(
        self,
        clients: AwsClients,
        job: str,
        host: str,
        started: float,
        sampler: InstanceSampler | None = None,
        gpus: str | None = None,
        sample_seconds: float | None = None,  # None: DEFAULT_SAMPLE_SECONDS
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.job = job
        self.host = host
        self.stream = log_stream_name(job, host, started)
        self._warn = warn
        self.logs = LogShipper(clients.logs(), self.stream, warn=self._prefixed("CloudWatch Logs"))
        self.metrics = MetricPublisher(clients.cloudwatch(),
                                       warn=self._prefixed("CloudWatch metrics"))
        self._sampler = sampler
        self._gpus = gpus
        self._sample_seconds = DEFAULT_SAMPLE_SECONDS if sample_seconds is None else sample_seconds
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def _prefixed(self, what: str) -> Callable[[str], None] | None:
        warn = self._warn
        if warn is None:
            return None
        return lambda message: warn(f"{what}: {message}")

    def start(self) -> None:
        self.logs.start()
        self.metrics.start()

    def line(self, host: str, stream: str, ts: float, line: str) -> None:
        self.logs.add(ts, line)

    def metric(self, sample: MetricSample) -> None:
        self.metrics.add(Datum(sample.name, sample.value, sample.timestamp,
                               (("TrainingJobName", self.job),)))

    def watch(self, container_id: str) -> None:
        """Sample instance metrics of the container every few seconds until ``close``."""
        if self._sampler is None:
            return
        sampler = self._sampler
        dims = (("Host", f"{self.job}/{self.host}"),)

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    values = sampler(container_id, self._gpus)
                except Exception:
                    values = {}
                now = time.time()
                for name, value in values.items():
                    self.metrics.add(Datum(name, value, now, dims, "Percent"))
                if self._stop.wait(self._sample_seconds):
                    return

        self._watcher = threading.Thread(target=loop, name="instance-metrics", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        """Stop sampling and flush every log event and metric still waiting."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(10)
        self.logs.close()
        self.metrics.close()


def start_telemetry(
    aws: Any, job: str, host: str, started: float, sampler: Any, gpus: str | None,
    warn: Callable[[str], None]
) -> Telemetry | None:
    """A host's CloudWatch shipping, started; None (with a warning) when its log stream
    cannot be created."""
    telemetry = Telemetry(aws, job, host, started, sampler=sampler, gpus=gpus, warn=warn)
    try:
        telemetry.start()
    except Exception as exc:
        from runner.aws.clients import error_message

        warn("CloudWatch is on but the log stream cannot be created, so nothing is shipped: "
             f"{error_message(exc)}")
        return None
    return telemetry
