"""Tuning jobs with real containers: parallel slots, Grid with failing and garbage trials,
early stopping, Hyperband, retries, stop from another process, resume after SIGKILL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.api.local_trials import local_tuner
from runner.core.specs import LocalOptions, Spec
from runner.engines.docker.backend import DockerBackend
from runner.store.jobs import Store
from runner.store.tuning import TuningStore
from runner.training.context import RunContext
from runner.tuning.describe import describe_tuning_job, list_trials
from runner.tuning.records import trial_views
from tests.integration.conftest import PROBE

pytestmark = pytest.mark.integration
DEMO = "smlocal/demo:latest"
REPO = Path(__file__).resolve().parents[2]


def demo_definition(tmp_path: Path, static: dict[str, str], **extra: Any) -> dict[str, Any]:
    data = REPO / "examples" / "data" / "demo"
    definition: dict[str, Any] = {
        "StaticHyperParameters": static,
        "AlgorithmSpecification": {
            "TrainingImage": DEMO, "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "validation:loss", "Regex": r"validation_loss=(\S+)"}],
        },
        "RoleArn": "arn:aws:iam::123456789012:role/x",
        "InputDataConfig": [
            {"ChannelName": ch, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"file://{data}/{ch}"}}}
            for ch in ("train", "validation")
        ],
        "OutputDataConfig": {"S3OutputPath": f"file://{tmp_path}/out"},
        "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 120},
    }
    definition.update(extra)
    return definition


def tuning_request(name: str, strategy: str, ranges: dict[str, Any], definition: dict[str, Any], *,
                   jobs: int | None, parallel: int, metric: str = "validation:loss",
                   **config: Any) -> dict[str, Any]:
    limits: dict[str, Any] = {"MaxParallelTrainingJobs": parallel}
    if jobs is not None:
        limits["MaxNumberOfTrainingJobs"] = jobs
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": strategy,
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": metric},
            "ResourceLimits": limits,
            "ParameterRanges": ranges,
            "RandomSeed": 3,
            **config,
        },
        "TrainingJobDefinition": definition,
    }


LR_RANGE = {"ContinuousParameterRanges": [
    {"Name": "learning_rate", "MinValue": "0.0001", "MaxValue": "0.2",
     "ScalingType": "Logarithmic"}]}


def run_tuning(
    request: dict[str, Any], store: Store, backend: DockerBackend, test_label: str, tmp_path: Path
) -> dict[str, Any]:
    from runner.api.tuning_validation import validate_tuning

    spec = Spec(request=request, local=LocalOptions(stop_grace_seconds=5), base_dir=tmp_path)
    assert validate_tuning(spec) == []
    tuner = local_tuner(spec, RunContext(store=store, backend=backend,
                                         extra_labels={"smlocal.test": test_label}))
    tuner.create()
    tuner.run()
    tstore = TuningStore(store)
    return describe_tuning_job(tstore.record(request["HyperParameterTuningJobName"]),
                               trial_views(store, tstore, request["HyperParameterTuningJobName"]),
                               time.time())


def intervals(store: Store, name: str) -> list[tuple[float, float]]:
    tstore = TuningStore(store)
    out = []
    for view in trial_views(store, tstore, name):
        steps = {s["Status"]: s for s in view.record["SecondaryStatusTransitions"]}
        out.append((steps["Training"]["StartTime"], view.record["TrainingEndTime"]))
    return out


def max_overlap(spans: list[tuple[float, float]]) -> int:
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
    level = best = 0
    for _, delta in events:
        level += delta
        best = max(best, level)
    return best


def test_random_search_runs_in_parallel_slots(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str
) -> None:
    definition = demo_definition(tmp_path, {"epochs": "5", "sleep_per_epoch": "0.2"})
    request = tuning_request("tune-par", "Random", LR_RANGE, definition, jobs=6, parallel=3)
    described = run_tuning(request, store, backend, test_label, tmp_path)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"]["Completed"] == 6
    assert described["ObjectiveStatusCounters"] == {"Succeeded": 6, "Pending": 0, "Failed": 0}
    assert max_overlap(intervals(store, "tune-par")) == 3
    best = described["BestTrainingJob"]
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
              for s in list_trials(trial_views(store, TuningStore(store), "tune-par"),
                                   "tune-par")["TrainingJobSummaries"]]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == min(values)
    for view in trial_views(store, TuningStore(store), "tune-par"):
        hps = view.record["HyperParameters"]
        assert hps["_tuning_objective_metric"] == "validation:loss"
        assert hps["epochs"] == "5"
        assert view.record["TuningJobArn"].endswith(":hyper-parameter-tuning-job/tune-par")


def test_grid_with_garbage_and_missing_objectives(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    definition = demo_definition(tmp_path, {"mode": "metrics"})
    definition["AlgorithmSpecification"] = {
        "TrainingImage": PROBE, "TrainingInputMode": "File",
        "MetricDefinitions": [{"Name": "loss", "Regex": r"^loss=(\S*)"}],
    }
    ranges = {"CategoricalParameterRanges": [
        {"Name": "lines", "Values": ['["loss=0.5"]', '["loss=nan"]', '["loss=garbage"]',
                                     '["no objective"]', '["loss=2.5E-01"]']},
    ]}
    request = tuning_request("tune-grid", "Grid", ranges, definition, jobs=None, parallel=2,
                             metric="loss")
    described = run_tuning(request, store, backend, test_label, tmp_path)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"]["Completed"] == 5  # every combination once
    assert described["ObjectiveStatusCounters"] == {"Succeeded": 2, "Pending": 0, "Failed": 3}
    tried = sorted(v.tuned["lines"] for v in trial_views(store, TuningStore(store), "tune-grid"))
    assert tried == sorted(ranges["CategoricalParameterRanges"][0]["Values"])
    assert (described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
            == 0.25)


def test_failing_trials_do_not_end_the_job(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    definition = demo_definition(tmp_path, {"lines": '["loss=0.25"]'})
    definition["AlgorithmSpecification"] = {
        "TrainingImage": PROBE, "TrainingInputMode": "File",
        "MetricDefinitions": [{"Name": "loss", "Regex": r"^loss=(\S*)"}],
    }
    ranges = {"CategoricalParameterRanges": [{"Name": "mode",
                                              "Values": ["exit", "fail-file", "metrics"]}]}
    request = tuning_request("tune-fail", "Grid", ranges, definition, jobs=None, parallel=3,
                             metric="loss")
    described = run_tuning(request, store, backend, test_label, tmp_path)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"]["NonRetryableError"] == 2
    assert described["TrainingJobStatusCounters"]["Completed"] == 1
    assert described["BestTrainingJob"]["TunedHyperParameters"] == {"mode": "metrics"}
    failed = list_trials(trial_views(store, TuningStore(store), "tune-fail"), "tune-fail",
                         status_equals="Failed")["TrainingJobSummaries"]
    reasons = sorted(s["FailureReason"] for s in failed)
    assert reasons[0].startswith("AlgorithmError: the container exited with code 3.")
    assert reasons[1] == "probe failed on purpose"
    assert all(s["ObjectiveStatus"] == "Failed" for s in failed)


def test_early_stopping_stops_poor_trials(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str
) -> None:
    definition = demo_definition(tmp_path, {"epochs": "12", "sleep_per_epoch": "0.15"})
    # one at a time, in order: three good learning rates, then two far too small ones, which
    # are worse at their first epoch than the median of the earlier trials' running averages
    ranges = {"CategoricalParameterRanges": [{"Name": "learning_rate",
                                              "Values": ["0.1", "0.05", "0.2", "0.0001",
                                                         "0.0002"]}]}
    request = tuning_request("tune-es", "Grid", ranges, definition, jobs=None, parallel=1,
                             TrainingJobEarlyStoppingType="Auto")
    described = run_tuning(request, store, backend, test_label, tmp_path)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    counters = described["TrainingJobStatusCounters"]
    assert (counters["Completed"], counters["Stopped"]) == (3, 2), counters
    views = trial_views(store, TuningStore(store), "tune-es")
    epochs = {v.tuned["learning_rate"]:
              len(store.metric_series(v.record["TrainingJobName"]).get("validation:loss", []))
              for v in views}
    assert epochs["0.1"] == epochs["0.05"] == epochs["0.2"] == 12
    assert epochs["0.0001"] < 12 and epochs["0.0002"] < 12
    stopped = [v for v in views if v.record["TrainingJobStatus"] == "Stopped"]
    # stopped trials keep their last objective
    assert all(v.record["FinalMetricDataList"] for v in stopped)
    assert described["ObjectiveStatusCounters"]["Succeeded"] == 5


def test_hyperband_spends_fewer_epochs(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str
) -> None:
    definition = demo_definition(tmp_path, {"epochs": "9", "sleep_per_epoch": "0.15"})
    request = tuning_request("tune-hb", "Hyperband", LR_RANGE, definition, jobs=9, parallel=3,
                             StrategyConfig={
                                 "HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 9}})
    described = run_tuning(request, store, backend, test_label, tmp_path)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    epochs = [len(store.metric_series(v.record["TrainingJobName"]).get("validation:loss", []))
              for v in trial_views(store, TuningStore(store), "tune-hb")]
    assert len(epochs) == 9
    assert sum(epochs) < 9 * 9
    assert max(epochs) == 9


def test_retry_after_an_infrastructure_failure(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    definition = demo_definition(tmp_path, {"mode": "sleep", "seconds": "3", "lines": "[]"},
                                 RetryStrategy={"MaximumRetryAttempts": 1})
    definition["AlgorithmSpecification"] = {
        "TrainingImage": PROBE, "TrainingInputMode": "File",
        "MetricDefinitions": [{"Name": "loss", "Regex": r"^PROBE_(SLEEPING)$"}],
    }
    ranges = {"CategoricalParameterRanges": [{"Name": "term_code", "Values": ["0"]}]}
    request = tuning_request("tune-retry", "Grid", ranges, definition, jobs=None, parallel=1,
                             metric="loss")

    def killer() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = backend.find({"smlocal.test": test_label})
            if found:
                time.sleep(0.5)
                subprocess.run(["docker", "kill", found[0]], check=False, capture_output=True)
                return
            time.sleep(0.1)

    import threading

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    described = run_tuning(request, store, backend, test_label, tmp_path)
    thread.join()
    counters = described["TrainingJobStatusCounters"]
    assert counters["RetryableError"] == 1, counters
    views = trial_views(store, TuningStore(store), "tune-retry")
    assert len(views) == 2 and [v.current for v in views] == [False, True]
    assert views[0].record["FailureReason"].startswith(
        "InternalServerError: the container was killed from outside")
    assert views[1].record["TrainingJobStatus"] == "Completed"


def smlocal(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(home),
                           *args],
                          capture_output=True, text=True, timeout=180, check=False)


def probe_tuning_file(tmp_path: Path, name: str, seconds: str, jobs: int, parallel: int) -> Path:
    definition = demo_definition(tmp_path, {"mode": "sleep", "seconds": seconds})
    definition["AlgorithmSpecification"] = {
        "TrainingImage": PROBE, "TrainingInputMode": "File",
        "MetricDefinitions": [{"Name": "slept", "Regex": r"^PROBE_(SLEEPING)$"},
                              {"Name": "loss", "Regex": r"^loss=(\S+)"}],
    }
    ranges = {"IntegerParameterRanges": [{"Name": "term_code", "MinValue": "0", "MaxValue": "100"}]}
    request = tuning_request(name, "Random", ranges, definition, jobs=jobs, parallel=parallel,
                             metric="loss")
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(request))
    return path


def running_trials(home: Path, name: str) -> int:
    result = smlocal(home, "trials", name, "--output", "json")
    if result.returncode != 0:
        return 0
    return sum(1 for s in json.loads(result.stdout)["TrainingJobSummaries"]
               if s["TrainingJobStatus"] == "InProgress")


def test_stop_a_tuning_job_from_another_process(tmp_path: Path, backend: DockerBackend) -> None:
    home = tmp_path / "home"
    spec = probe_tuning_file(tmp_path, "tune-stop", "120", jobs=6, parallel=2)
    runner = subprocess.Popen([sys.executable, "-m", "runner.interfaces.cli.main", "--home",
                               str(home), "tune", str(spec), "--plain", "--grace", "5"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while running_trials(home, "tune-stop") < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert smlocal(home, "stop", "tune-stop").returncode == 0
        _, err = runner.communicate(timeout=60)
    finally:
        runner.kill()
    assert runner.returncode == 1, err
    described = json.loads(smlocal(home, "describe", "tune-stop").stdout)
    assert described["HyperParameterTuningJobStatus"] == "Stopped"
    assert described["TrainingJobStatusCounters"]["Stopped"] == 2
    assert [c for c in backend.client.containers.list(all=True) if "tune-stop" in c.name] == []


def crash_containers(backend: DockerBackend) -> list[Any]:
    return [c for c in backend.client.containers.list() if "tune-crash" in c.name]


def test_resume_after_the_runner_is_killed(tmp_path: Path, backend: DockerBackend) -> None:
    home = tmp_path / "home"
    spec = probe_tuning_file(tmp_path, "tune-crash", "4", jobs=4, parallel=2)
    runner = subprocess.Popen([sys.executable, "-m", "runner.interfaces.cli.main", "--home",
                               str(home), "tune", str(spec), "--plain"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(crash_containers(backend)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # their first lines are in the store
        runner.send_signal(signal.SIGKILL)
        runner.communicate(timeout=30)
    finally:
        runner.kill()
    assert len(crash_containers(backend)) == 2  # the trials outlive the runner
    time.sleep(1)
    result = smlocal(home, "tune", "--resume", "tune-crash", "--plain")
    assert result.returncode == 0, result.stderr
    described = json.loads(smlocal(home, "describe", "tune-crash").stdout)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"]["Completed"] == 4
    listed = json.loads(smlocal(home, "trials", "tune-crash", "--output",
                                "json").stdout)["TrainingJobSummaries"]
    names = [s["TrainingJobName"] for s in listed]
    assert len(names) == 4 == len(set(names))
    for name in names:  # each trial ran once: one report, one SIGTERM-free sleep
        logs = smlocal(home, "logs", name).stdout
        assert logs.count("PROBE_REPORT") == 1, name
        assert logs.count("PROBE_SLEEPING") == 1, name
    assert [c for c in backend.client.containers.list(all=True) if "tune-crash" in c.name] == []


def test_warm_start_seeds_the_child_with_its_parents_trials(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str
) -> None:
    definition = demo_definition(tmp_path, {"epochs": "3"})
    parent = tuning_request("tune-parent", "Random", LR_RANGE, definition, jobs=3, parallel=3)
    run_tuning(parent, store, backend, test_label, tmp_path)
    child = tuning_request("tune-child", "Bayesian", LR_RANGE, definition, jobs=2, parallel=1)
    child["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "tune-parent"}],
                                "WarmStartType": "IdenticalDataAndAlgorithm"}
    spec = Spec(request=child, local=LocalOptions(stop_grace_seconds=5), base_dir=tmp_path)
    tuner = local_tuner(spec, RunContext(store=store, backend=backend,
                                         extra_labels={"smlocal.test": test_label}))
    seeded = tuner.history(tuner.plans[0])
    assert [t.number for t in seeded] == [-1, -2, -3]
    parent_values = sorted(v.record["FinalMetricDataList"][0]["Value"]
                           for v in trial_views(store, TuningStore(store), "tune-parent"))
    assert sorted(t.objective for t in seeded) == parent_values  # type: ignore[type-var]
    tuner.create()
    tuner.run()
    described = describe_tuning_job(TuningStore(store).record("tune-child"),
                                    trial_views(store, TuningStore(store), "tune-child"),
                                    time.time())
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    # the parents' trials are not the child's
    assert described["TrainingJobStatusCounters"]["Completed"] == 2
    assert described["WarmStartConfig"]["WarmStartType"] == "IdenticalDataAndAlgorithm"
