"""Early stopping and Hyperband on the demo algorithm, with real containers: the share of
epochs saved against the same budget without them, and the best objective each reaches.

    .venv/bin/python benchmarks/early_stopping.py [--trials 16 --parallel 2 --epochs 20 --seeds 1]

Four tuning jobs per seed, side by side in one run, all over the demo's learning rate and
batch size with the same RandomSeed: Random (no stopping), Random + early stopping Auto,
Hyperband (MinResource 1, MaxResource = epochs), and Bayesian (no stopping) for reference.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def request(name: str, strategy: str, trials: int, parallel: int, epochs: int, seed: int,
            work: Path, **config: Any) -> dict[str, Any]:
    data = REPO / "examples" / "data" / "demo"
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy,
            "HyperParameterTuningJobObjective": {"Type": "Minimize",
                                                 "MetricName": "validation:loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": trials,
                               "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "learning_rate", "MinValue": "0.0001", "MaxValue": "0.3",
                     "ScalingType": "Logarithmic"}],
                "IntegerParameterRanges": [
                    {"Name": "mini_batch_size", "MinValue": "8", "MaxValue": "512",
                     "ScalingType": "Logarithmic"}],
            },
            "RandomSeed": seed,
            **config,
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"epochs": str(epochs), "sleep_per_epoch": "0.05"},
            "AlgorithmSpecification": {
                "TrainingImage": "smlocal/demo:latest", "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "validation:loss",
                                       "Regex": r"validation_loss=(\S+)"}],
            },
            "RoleArn": "arn:aws:iam::123456789012:role/x",
            "InputDataConfig": [
                {"ChannelName": ch,
                 "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                 "S3Uri": f"file://{data}/{ch}"}}}
                for ch in ("train", "validation")
            ],
            "OutputDataConfig": {"S3OutputPath": f"file://{work}/out"},
            "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 300},
            "EnableNetworkIsolation": True,
        },
    }


def run(req: dict[str, Any], work: Path) -> tuple[int, float, float]:
    """(epochs run in all, best objective, wall seconds)"""
    from runner.api.local_trials import local_tuner
    from runner.core.specs import LocalOptions, Spec
    from runner.engines.docker.backend import DockerBackend
    from runner.store.jobs import Store
    from runner.store.tuning import TuningStore
    from runner.training.context import RunContext
    from runner.tuning.describe import objective_value
    from runner.tuning.records import trial_views

    store = Store(work / "home")
    tuner = local_tuner(Spec(request=req, local=LocalOptions(stop_grace_seconds=5), base_dir=work),
                  RunContext(store=store, backend=DockerBackend(store.home)))
    tuner.create()
    start = time.perf_counter()
    tuner.run()
    wall = time.perf_counter() - start
    views = trial_views(store, TuningStore(store), req["HyperParameterTuningJobName"])
    epochs = sum(len(store.metric_series(v.record["TrainingJobName"]).get("validation:loss", []))
                 for v in views)
    values = [objective_value(v.record, "validation:loss")
              for v in views if v.record["TrainingJobStatus"] != "Failed"]
    return epochs, min(v for v in values if v is not None), wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    ways = {
        "Random, no stopping": ("Random", {}),
        "Random + early stopping Auto": ("Random", {"TrainingJobEarlyStoppingType": "Auto"}),
        "Hyperband": ("Hyperband", {"StrategyConfig": {
            "HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": args.epochs}}}),
        "Bayesian, no stopping": ("Bayesian", {}),
    }
    results: dict[str, list[tuple[int, float, float]]] = {k: [] for k in ways}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for seed in range(1, args.seeds + 1):
            for i, (label, (strategy, config)) in enumerate(ways.items()):
                req = request(f"bench-{seed}-{i}", strategy, args.trials, args.parallel,
                              args.epochs, seed, work, **config)
                results[label].append(run(req, work))
    budget = args.trials * args.epochs
    print(f"early stopping and Hyperband on the demo algorithm: {args.trials} trials x "
          f"{args.epochs} epochs, {args.parallel} slots, {args.seeds} seed(s), medians")
    print(f"  {'way':32s} {'epochs':>7s} {'saved':>6s} {'best objective':>15s} {'wall s':>7s}")
    for label, rows in results.items():
        epochs = statistics.median(r[0] for r in rows)
        best = statistics.median(r[1] for r in rows)
        wall = statistics.median(r[2] for r in rows)
        print(f"  {label:32s} {epochs:7.0f} {1 - epochs / budget:6.0%} {best:15.6f} {wall:7.1f}")


if __name__ == "__main__":
    main()
