"""The tuner's history: kept incrementally vs rebuilt from the store at every event.

A simulated tuning job of 300 trials (Random search, early stopping Auto, 4 at a time, up to
8 epochs each) runs twice side by side on the fake engine and a fake clock (runner/engines/
fake.py: every trial a real TrainingRun with its workspace, logs, metrics and artifacts in a
real SQLite store; only the container is a Python function). The first tuner is today's: it
reads a trial back from the store once, when it ended. The second overrides ``history`` with
what the tuner did before issue 9: every call (one per suggestion and one per reported value,
for the scheduler) rebuilds every trial from the store, 2N+1 queries.

Prints each run's wall time, how many records and metric series the tuner read back, and the
ratio. Usage: python benchmarks/tuner_history.py [--trials 300]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runner.api.local_trials import LocalTrials  # noqa: E402
from runner.core.clock import FakeClock  # noqa: E402
from runner.core.specs import LocalOptions, Spec  # noqa: E402
from runner.engines.fake import FakeBackend, FakeContainer  # noqa: E402
from runner.shapes import status  # noqa: E402
from runner.store.jobs import Store  # noqa: E402
from runner.training.context import RunContext  # noqa: E402
from runner.tuning.plans import Plan  # noqa: E402
from runner.tuning.trials import Trial, TrialStatus  # noqa: E402
from runner.tuning.tuner import Tuner, replay  # noqa: E402

IMAGE = "bench/curve:latest"


def curve(box: FakeContainer) -> int:
    """loss = (x - 3)^2 + 1/epoch, an epoch a simulated minute."""
    hps = box.hyperparameters()
    x = float(hps["x"])
    for epoch in range(1, int(hps["epochs"]) + 1):
        if box.sleep(60):
            return 143
        box.print(f"loss={(x - 3) ** 2 + 1 / epoch:.6f}")
    return 0


class Counting(LocalTrials):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.reads = 0

    def describe(self, job: str) -> dict[str, Any] | None:
        self.reads += 1
        return super().describe(job)

    def metric_values(self, job: str, metric: str) -> list[float]:
        self.reads += 1
        return super().metric_values(job, metric)


class Rebuilding(Tuner):
    """The tuner before issue 9: the whole history rebuilt from the store at every call."""

    def history(self, plan: Plan) -> list[Trial]:
        out = list(self.warm_start.get(plan.name, []))
        for row in self.tstore.trials(self.name):
            if row.definition != plan.name:
                continue
            record = self.trials.describe(row.job_name)
            if record is None:
                out.append(Trial(row.number, row.config, TrialStatus.PENDING))
                continue
            live = self._live.get(row.job_name)
            if live is not None and not status.is_terminal(record):
                values = list(live.values)
            else:
                values = self.trials.metric_values(row.job_name, plan.metric)
            out.append(replay(row, record, values, plan.metric))
        return out


def request(root: Path, trials: int) -> dict[str, Any]:
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "rows.csv").write_text("1\n")
    return {
        "HyperParameterTuningJobName": "bench",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random", "RandomSeed": 1, "TrainingJobEarlyStoppingType": "Auto",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": trials, "MaxParallelTrainingJobs": 4},
            "ParameterRanges": {"ContinuousParameterRanges": [
                {"Name": "x", "MinValue": "0", "MaxValue": "6", "ScalingType": "Linear"}]},
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"epochs": "8"},
            "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File",
                                       "MetricDefinitions": [{"Name": "loss",
                                                              "Regex": "loss=(\\S+)"}]},
            "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
            "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"file://{root / 'data'}"}}}],
            "OutputDataConfig": {"S3OutputPath": f"file://{root / 'output'}"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                               "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
    }


def run(kind: type[Tuner], trials: int) -> tuple[float, int, int, int]:
    """(seconds, records and series read back, values reported, trials ended)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clock = FakeClock()
        store = Store(root / "home")
        ctx = RunContext(store=store, backend=FakeBackend(root / "engine", {IMAGE: curve}, clock),
                         clock=clock)
        spec = Spec(request(root, trials), LocalOptions(stop_grace_seconds=5), root)
        backend = Counting(spec, ctx, "bench")
        values = []
        tuner = kind(spec, store, backend, clock,
                     lambda k, d: values.append(1) if k == "objective" else None)
        tuner.create()
        started = time.perf_counter()
        record = tuner.run()
        seconds = time.perf_counter() - started
        assert record["HyperParameterTuningJobStatus"] == "Completed", record
        ended = len(store.list_training_jobs(tuning_job="bench"))
        store.close()
    return seconds, backend.reads, len(values), ended


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    args = parser.parse_args()
    print(f"{args.trials} trials, Random, early stopping Auto, 4 at a time, 8 epochs at most")
    results = {}
    for name, kind in (("kept (today)", Tuner), ("rebuilt per event (before)", Rebuilding)):
        seconds, reads, values, ended = run(kind, args.trials)
        results[name] = seconds
        print(f"  {name:28s} {seconds:7.1f} s  {reads:9,} reads back  {values:,} values  "
              f"{ended} training jobs  ({reads / max(values, 1):.1f} reads a value)")
    kept, rebuilt = results.values()
    print(f"  rebuilt / kept: {rebuilt / kept:.1f}x the wall time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
