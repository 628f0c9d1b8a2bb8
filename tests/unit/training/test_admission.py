"""The machine's admission queue: jobs share the CPUs, memory and GPUs their instance types ask
for, wait in Starting when they do not fit, in the order they asked; on the fake engine."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from runner.core.clock import FakeClock
from runner.core.specs import LocalOptions, Spec
from runner.engines.fake import FakeBackend
from runner.store.jobs import Store
from runner.training.admission import Demand, MachineCapacity, demand
from runner.training.context import RunContext
from runner.training.run import TrainingRun
from tests.unit.training.test_run import IMAGE, algorithm, request

GIB = 1024**3


def test_demand_of_instance_types() -> None:
    assert demand("ml.m5.large", 2, 0) == Demand(4, 16 * GIB, 0)
    assert demand("ml.g5.xlarge", 1, 0) == Demand(4, 16 * GIB, 1)
    assert demand("local", 3, 0) == Demand()  # no limits, nothing asked
    assert demand("local_gpu", 1, 2) == Demand(0, 0, 2)  # all of the machine's GPUs


def run_jobs(tmp_path: Path, machine: Demand, jobs: list[tuple[str, str, dict[str, str]]]) -> Store:
    """Run ``(name, instance type, hyperparameters)`` jobs at once, sharing one queue."""
    clock = FakeClock()
    store = Store(tmp_path / "home")
    backend = FakeBackend(tmp_path / "engine", {IMAGE: algorithm}, clock)
    queue = MachineCapacity(machine, clock)
    runs = []
    for name, itype, hps in jobs:
        req = request(tmp_path, **hps)
        req["TrainingJobName"] = name
        req["ResourceConfig"]["InstanceType"] = itype
        req["StoppingCondition"]["MaxRuntimeInSeconds"] = 10**6
        run = TrainingRun(Spec(req, LocalOptions(), tmp_path),
                          RunContext(store=store, backend=backend, clock=clock, admission=queue))
        run.create()
        runs.append(run)
    threads = [threading.Thread(target=run.run) for run in runs]
    for t in threads:
        t.start()
        t.join(0.05)  # in this order (a job of 300 simulated minutes takes about a real second)
    for t in threads:
        t.join(30)
    return store


def step(record: dict[str, Any], status: str) -> dict[str, Any]:
    return next(t for t in record["SecondaryStatusTransitions"] if t["Status"] == status)


def test_jobs_that_do_not_fit_together_run_one_after_the_other(tmp_path: Path) -> None:
    store = run_jobs(tmp_path, Demand(2, 16 * GIB, 0), [
        ("first", "ml.m5.large", {"epochs": "300"}), ("second", "ml.m5.large", {"epochs": "5"})])
    first, second = store.record("first"), store.record("second")
    assert first["TrainingJobStatus"] == second["TrainingJobStatus"] == "Completed"
    assert step(second, "Downloading")["StartTime"] >= first["TrainingEndTime"]
    assert step(second, "Starting")["StatusMessage"].startswith(
        "waiting for capacity: the job asks for 2 vCPUs, 8.0 GiB; running jobs hold 2 vCPUs")


def test_jobs_that_fit_together_run_together(tmp_path: Path) -> None:
    store = run_jobs(tmp_path, Demand(4, 16 * GIB, 0), [
        ("first", "ml.m5.large", {"epochs": "300"}), ("second", "ml.m5.large", {"epochs": "300"})])
    first, second = store.record("first"), store.record("second")
    assert step(second, "Downloading")["StartTime"] < first["TrainingEndTime"]
    assert step(second, "Starting")["StatusMessage"] == step(first, "Starting")["StatusMessage"]


def test_a_job_bigger_than_the_machine_runs_alone(tmp_path: Path) -> None:
    store = run_jobs(tmp_path, Demand(2, 8 * GIB, 0), [("huge", "ml.m5.24xlarge", {})])
    assert store.record("huge")["TrainingJobStatus"] == "Completed"


def test_a_stop_while_waiting_ends_the_job_without_containers(tmp_path: Path) -> None:
    clock = FakeClock()
    store = Store(tmp_path / "home")
    backend = FakeBackend(tmp_path / "engine", {IMAGE: algorithm}, clock)
    queue = MachineCapacity(Demand(2, 8 * GIB, 0), clock)
    # the machine is busy
    hold = queue.admit(Demand(2, 8 * GIB, 0), lambda why: None, lambda: False)
    assert hold is not None
    req = request(tmp_path)
    run = TrainingRun(Spec(req, LocalOptions(), tmp_path),
                      RunContext(store=store, backend=backend, clock=clock, admission=queue))
    run.create()
    told: list[str] = []
    original = run._waiting

    def waiting(why: str) -> None:
        told.append(why)
        original(why)
        store.request_stop("fake-job", clock.now())

    run._waiting = waiting  # type: ignore[method-assign]
    record = run.run()
    assert told and record["TrainingJobStatus"] == "Stopped"
    assert backend.started == [] and "ModelArtifacts" not in record
    hold()
    # given back
    assert queue.admit(Demand(2, 8 * GIB, 0), lambda why: None, lambda: False) is not None


def test_the_queue_admits_in_the_order_jobs_asked(tmp_path: Path) -> None:
    queue = MachineCapacity(Demand(4, 0, 0), FakeClock())
    running = queue.admit(Demand(3, 0, 0), lambda why: None, lambda: False)
    assert running is not None
    order: list[str] = []

    def ask(name: str, cpus: float) -> None:
        release = queue.admit(Demand(cpus, 0, 0), lambda why: None, lambda: False)
        order.append(name)
        assert release is not None
        release()

    big = threading.Thread(target=ask, args=("big", 4))
    big.start()
    big.join(0.2)  # waits: 3 of 4 CPUs are held
    small = threading.Thread(target=ask, args=("small", 1))
    small.start()
    small.join(0.2)  # one CPU is free, but the big job asked first
    assert order == []
    running()
    big.join(10)
    small.join(10)
    assert order == ["big", "small"]
