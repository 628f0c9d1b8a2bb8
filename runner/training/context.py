"""What a training run needs from around it: the store, the engine, the clock, and the
optional parts (an echo of its output, a metric listener, AWS clients built on first need,
the machine's admission queue)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runner.aws.clients import AwsClients
from runner.core.clock import Clock, SystemClock
from runner.engines.base import Backend
from runner.shapes.status import training_start
from runner.store.jobs import Store
from runner.training.admission import MachineCapacity
from runner.training.logpump import MetricListener

Echo = Callable[[str, str, str], None]


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
    admission: MachineCapacity | None = None  # the machine's queue (a server's); None: none

    def aws_clients(self) -> AwsClients:
        if self.aws is None:
            self.aws = AwsClients()
        return self.aws


def training_started(record: dict[str, Any], default: float) -> float:
    start = training_start(record)
    return default if start is None else start
