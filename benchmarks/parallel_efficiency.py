"""Parallel efficiency of a tuning job: 40 trials of a 2-second container with 8 parallel
slots, wall time divided by the ideal (40 / 8 x 2 s = 10 s).

    .venv/bin/python benchmarks/parallel_efficiency.py [--trials 40 --parallel 8 --seconds 2]

The gap to 1.0 is per-trial overhead (container start and removal, config files, the store)
that the slots cannot hide, plus the time between a trial's end and the next one's start.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAGE = "smlocal/sleep:bench"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from runner.api.local_trials import local_tuner
    from runner.core.specs import LocalOptions, Spec
    from runner.engines.docker.backend import DockerBackend
    from runner.store.jobs import Store
    from runner.store.tuning import TuningStore
    from runner.training.context import RunContext
    from runner.tuning.describe import describe_tuning_job
    from runner.tuning.records import trial_views

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ctx_dir = work / "ctx"
        ctx_dir.mkdir()
        (ctx_dir / "train").write_text(f"#!/bin/sh\nsleep {args.seconds}\necho score=1\n")
        (ctx_dir / "train").chmod(0o755)
        (ctx_dir / "Dockerfile").write_text(
            "FROM smlocal/python:3.11\nCOPY train /usr/local/bin/train\n")
        subprocess.run([sys.executable, "-m", "runner.interfaces.cli.main", "build", str(ctx_dir),
                        "-t", IMAGE],
                       check=True, capture_output=True, cwd=REPO)
        request = {
            "HyperParameterTuningJobName": "bench-parallel",
            "HyperParameterTuningJobConfig": {
                "Strategy": "Random",
                "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "score"},
                "ResourceLimits": {"MaxNumberOfTrainingJobs": args.trials,
                                   "MaxParallelTrainingJobs": args.parallel},
                "ParameterRanges": {"IntegerParameterRanges": [{"Name": "x", "MinValue": "0",
                                                                "MaxValue": "1000000"}]},
                "RandomSeed": 1,
            },
            "TrainingJobDefinition": {
                "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File",
                                           "MetricDefinitions": [{"Name": "score",
                                                                  "Regex": "score=(\\S+)"}]},
                "RoleArn": "arn:aws:iam::123456789012:role/x",
                "OutputDataConfig": {"S3OutputPath": f"file://{work}/out"},
                "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1,
                                   "VolumeSizeInGB": 1},
                "StoppingCondition": {"MaxRuntimeInSeconds": 120},
                "EnableNetworkIsolation": True,
            },
        }
        store = Store(work / "home")
        spec = Spec(request=request, local=LocalOptions(), base_dir=work)
        tuner = local_tuner(spec, RunContext(store=store, backend=DockerBackend(store.home)))
        tuner.create()
        start = time.perf_counter()
        tuner.run()
        wall = time.perf_counter() - start
        tstore = TuningStore(store)
        described = describe_tuning_job(tstore.record("bench-parallel"),
                                        trial_views(store, tstore, "bench-parallel"), time.time())
        baseline = docker_run_pool(args.trials, args.parallel)
        subprocess.run(["docker", "rmi", "-f", IMAGE], check=False, capture_output=True)
    ideal = args.trials / args.parallel * args.seconds
    print(f"parallel efficiency: {args.trials} trials of a {args.seconds:g} s container, "
          f"{args.parallel} slots")
    print("  completed trials                     "
          f"{described['TrainingJobStatusCounters']['Completed']}")
    print(f"  ideal (trials / slots x seconds)     {ideal:6.2f} s")
    print(f"  smlocal tuning job                   {wall:6.2f} s   ratio {wall / ideal:5.3f}  "
          "(goal <= 1.15)")
    print(f"  docker run --rm --network none, {args.parallel} at a time "
          f"{baseline:6.2f} s   ratio {baseline / ideal:5.3f}")
    print(f"  smlocal / docker run pool            {wall / baseline:5.3f}")


def docker_run_pool(trials: int, parallel: int) -> float:
    """The same containers through the docker CLI, ``parallel`` at a time: what the engine
    itself costs on this machine."""
    from concurrent.futures import ThreadPoolExecutor

    def one(_: int) -> None:
        subprocess.run(["docker", "run", "--rm", "--network", "none", IMAGE, "train"], check=True,
                       capture_output=True)

    start = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, range(trials)))
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
