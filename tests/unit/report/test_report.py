"""Tests for runner.report.data and runner.report.plots: a tuning job recorded in a store as the
Tuner leaves it (no Docker), then its HTML, CSV and JSON reports."""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.report.data import (
    TRAINING,
    TUNING,
    learning_curves,
    load,
    objective_series,
    ranked,
    trial_table,
)
from runner.report.write import write_report
from runner.shapes import status
from runner.shapes.status import training_job_arn, tuning_job_arn
from runner.store.jobs import JobNotFound, Store
from runner.store.tuning import TuningStore
from runner.tuning import trial_jobs
from runner.tuning.records import spaces
from runner.tuning.trials import Direction

T0 = 1_700_000_000.0
PNG = b"\x89PNG\r\n\x1a\n"
HOSTILE = "AlgorithmError: <script>alert(1)</script> & more"
RANGES: dict[str, Any] = {
    "IntegerParameterRanges": [
        {"Name": "mini_batch_size", "MinValue": "8", "MaxValue": "256",
         "ScalingType": "Logarithmic"}],
    "ContinuousParameterRanges": [
        {"Name": "learning_rate", "MinValue": "0.0001", "MaxValue": "0.3",
         "ScalingType": "Logarithmic"},
        {"Name": "momentum", "MinValue": "0.5", "MaxValue": "0.999",
         "ScalingType": "ReverseLogarithmic"},
        {"Name": "l2", "MinValue": "0.0", "MaxValue": "0.1", "ScalingType": "Linear"}],
    "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["sgd", "adam", "rmsprop"]}],
}
# (outcome, learning_rate, mini_batch_size, momentum, l2, optimizer); outcome "NoObjective" is
# a job that completed without reporting the objective metric
TRIALS = [
    ("Completed", 0.003, 32, 0.9, 0.01, "adam"),
    ("Completed", 0.1, 128, 0.99, 0.05, "sgd"),
    ("Stopped", 0.25, 8, 0.6, 0.09, "sgd"),
    ("Failed", 0.0002, 64, 0.95, 0.02, "rmsprop"),
    ("Completed", 0.01, 16, 0.98, 0.0, "adam"),
    ("NoObjective", 0.05, 200, 0.7, 0.03, "rmsprop"),
    ("Completed", 0.001, 48, 0.995, 0.07, "adam"),
    ("Completed", 0.03, 24, 0.8, 0.04, "sgd"),
]


def final_loss(lr: float, batch: int) -> float:
    return 0.15 + 0.08 * (math.log10(lr) + 2.3) ** 2 + 0.01 * math.log2(batch)


def tuning_request(name: str, objective_type: str = "Minimize") -> dict[str, Any]:
    metric = "validation:loss" if objective_type == "Minimize" else "validation:accuracy"
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": objective_type, "MetricName": metric},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": len(TRIALS),
                               "MaxParallelTrainingJobs": 2},
            "ParameterRanges": RANGES,
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"epochs": "10"},
            "AlgorithmSpecification": {
                "TrainingImage": "smlocal/demo:latest", "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "train:loss", "Regex": "train_loss=(\\S+)"},
                                      {"Name": "validation:loss",
                                       "Regex": "validation_loss=(\\S+)"},
                                      {"Name": "validation:accuracy",
                                       "Regex": "validation_acc=(\\S+)"}],
            },
            "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
            "OutputDataConfig": {"S3OutputPath": "file://out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                               "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        },
    }


def run_job(store: Store, request: dict[str, Any], outcome: str, lr: float, batch: int,
            created: float, tuning_job: str | None = None, epochs: int = 10) -> None:
    """Record a training job's life as TrainingRun does: created, Downloading, Training with
    metric values every 2 s, then its end."""
    name = request["TrainingJobName"]
    record = status.new_record(request, training_job_arn(name), created)
    record["HyperParameters"] = request["HyperParameters"]
    record["AlgorithmSpecification"] = request["AlgorithmSpecification"]
    if tuning_job:
        record["TuningJobArn"] = tuning_job_arn(tuning_job)
    store.create_training_job(record, request, {}, tuning_job)
    status.advance(record, "Downloading", created + 3)
    status.advance(record, "Training", created + 5)
    store.save_record(record)
    final = final_loss(lr, batch)
    count = {"Stopped": 3, "Failed": 2}.get(outcome, epochs)
    now = created + 5
    for epoch in range(1, count + 1):
        now += 2.0
        loss = final + (1.2 - final) * math.exp(-epoch / 2.5)
        samples = [("train:loss", loss * 0.9, now)]
        if outcome != "NoObjective":
            samples += [("validation:loss", loss, now), ("validation:accuracy", 1 - loss / 2, now)]
        store.add_metrics(name, samples)
    series = store.metric_series(name)
    record["FinalMetricDataList"] = [{"MetricName": m, "Value": points[-1][1],
                                      "Timestamp": points[-1][0]}
                                     for m, points in sorted(series.items())]
    if outcome == "Failed":
        record["FailureReason"] = HOSTILE
        status.advance(record, "Failed", now + 1)
    elif outcome == "Stopped":
        status.advance(record, "Stopping", now + 0.5)
        status.advance(record, "Stopped", now + 1)
    else:
        status.advance(record, "Uploading", now + 1)
        status.advance(record, "Completed", now + 2)
    store.save_record(record)


def record_tuning_job(
    store: Store, name: str, objective_type: str = "Minimize",
    trials: list[tuple[str, float, int, float, float, str]] | None = None
) -> None:
    """A finished tuning job as Tuner leaves it in the store."""
    request = tuning_request(name, objective_type)
    tstore = TuningStore(store)
    record: dict[str, Any] = {
        "HyperParameterTuningJobName": name, "HyperParameterTuningJobArn": tuning_job_arn(name),
        "HyperParameterTuningJobStatus": "InProgress", "CreationTime": T0, "LastModifiedTime": T0,
        "HyperParameterTuningJobConfig": request["HyperParameterTuningJobConfig"],
        "TrainingJobDefinition": request["TrainingJobDefinition"],
    }
    tstore.create(record, request, {})
    ((definition_name, _, definition),) = trial_jobs.definitions(request)
    space = spaces(request)[definition_name]
    for number, (outcome, lr, batch, momentum, l2, opt) in enumerate(
            TRIALS if trials is None else trials, start=1):
        config: dict[str, Any] = {"mini_batch_size": batch, "learning_rate": lr,
                                  "momentum": momentum, "l2": l2, "optimizer": opt}
        job = trial_jobs.trial_job_name(name, number)
        tstore.add_trial(name, number, definition_name, config, job)
        trial_request = trial_jobs.trial_request(request, definition, space.format(config), job)
        run_job(store, trial_request, outcome, lr, batch, T0 + 10 * number, tuning_job=name)
    record["HyperParameterTuningJobStatus"] = "Completed"
    record["HyperParameterTuningEndTime"] = T0 + 400
    tstore.save(record)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "home")
    record_tuning_job(s, "tune-min")
    record_tuning_job(s, "tune-max", "Maximize")
    request = {"TrainingJobName": "lone-job",
               "HyperParameters": {"epochs": "10", "lr": "0.01", "mode": "fast"},
               **{k: v for k, v in tuning_request("x")["TrainingJobDefinition"].items()
                  if k != "StaticHyperParameters"}}
    run_job(s, request, "Completed", 0.01, 32, T0 + 1000)
    return s


def job_name(tuning: str, number: int) -> str:
    return trial_jobs.trial_job_name(tuning, number)


# -- data ------------------------------------------------------------------------------------------
def test_load_detects_tuning_and_training_jobs(store: Store) -> None:
    data = load(store, "tune-min")
    assert (data.kind == TUNING and data.metric == "validation:loss"
            and data.direction is Direction.MINIMIZE)
    assert [j.number for j in data.jobs] == list(range(1, 9))
    assert [j.name for j in data.jobs] == [job_name("tune-min", n) for n in range(1, 9)]
    assert ([p.name for p in data.parameters] == ["mini_batch_size", "learning_rate", "momentum",
                                                  "l2", "optimizer"])
    assert data.jobs[0].tuned == {"mini_batch_size": 32, "learning_rate": 0.003, "momentum": 0.9,
                                  "l2": 0.01, "optimizer": "adam"}
    lone = load(store, "lone-job")
    assert lone.kind == TRAINING and len(lone.jobs) == 1
    assert lone.jobs[0].tuned == {"epochs": 10, "lr": 0.01, "mode": "fast"}
    with pytest.raises(JobNotFound):
        load(store, "nope")


def test_objective_series_minimize(store: Store) -> None:
    series = objective_series(load(store, "tune-min"))
    assert series.total == 8
    assert [n for n, _, _ in series.points] == [1, 2, 3, 5, 7, 8]
    assert {s for _, _, s in series.points} == {"Completed", "Stopped"}
    assert series.omitted == {"Completed": 1, "Failed": 1}
    best = [b for _, b in series.best_so_far]
    assert best == sorted(best, reverse=True)
    assert best[-1] == min(v for _, v, _ in series.points)


def test_objective_series_maximize(store: Store) -> None:
    data = load(store, "tune-max")
    series = objective_series(data)
    assert data.direction is Direction.MAXIMIZE and series.metric == "validation:accuracy"
    best = [b for _, b in series.best_so_far]
    assert best == sorted(best) and best[-1] == max(v for _, v, _ in series.points)
    assert data.best is not None and data.best.objective == best[-1]
    order = ranked(data)
    assert order[0] is data.best
    scored = [j.objective for j in order if j.objective is not None]
    assert scored == sorted(scored, reverse=True)
    assert [j.objective for j in order[len(scored):]] == [None, None]


def test_learning_curves_start_at_training_start(store: Store) -> None:
    x_label, curves = learning_curves(load(store, "tune-min"))
    assert x_label == "seconds since training start"
    assert list(curves) == ["validation:loss", "train:loss", "validation:accuracy"]
    assert len(curves["train:loss"]) == 8 and len(curves["validation:loss"]) == 7
    first = curves["train:loss"][0]
    # TrainingStartTime: Downloading
    assert first.xs[0] == pytest.approx(4.0) and len(first.xs) == 10


# -- CSV / JSON ------------------------------------------------------------------------------------
COLUMNS = ["TrainingJobName", "TrainingJobStatus", "ObjectiveStatus", "FinalObjectiveValue",
           "mini_batch_size", "learning_rate", "momentum", "l2", "optimizer", "TrainingStartTime",
           "TrainingEndTime", "TrainingElapsedTimeSeconds", "TrainingJobDefinitionName",
           "train:loss", "validation:accuracy", "validation:loss"]


def test_csv(store: Store, tmp_path: Path) -> None:
    (path,) = write_report(store, "tune-min", tmp_path / "out", fmt="csv")
    assert path == tmp_path / "out" / "trials.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == COLUMNS
    assert len(rows) == 8
    failed = rows[3]
    assert failed["TrainingJobStatus"] == "Failed" and failed["ObjectiveStatus"] == "Failed"
    assert failed["FinalObjectiveValue"] == ""
    assert rows[5]["ObjectiveStatus"] == "Failed" and rows[5]["validation:loss"] == ""
    assert rows[2]["TrainingJobStatus"] == "Stopped" and rows[2]["ObjectiveStatus"] == "Succeeded"
    assert float(rows[0]["FinalObjectiveValue"]) == pytest.approx(float(rows[0]["validation:loss"]))
    assert rows[0]["TrainingStartTime"] == "2023-11-14T22:13:33+00:00"
    assert float(rows[0]["TrainingElapsedTimeSeconds"]) == 24.0


def test_json_is_typed(store: Store, tmp_path: Path) -> None:
    (path,) = write_report(store, "tune-min", tmp_path, fmt="json")
    rows = json.loads(path.read_text())
    assert [list(r) for r in rows] == [COLUMNS] * 8
    first = rows[0]
    assert first["mini_batch_size"] == 32 and isinstance(first["mini_batch_size"], int)
    assert first["learning_rate"] == 0.003 and first["optimizer"] == "adam"
    assert first["FinalObjectiveValue"] == pytest.approx(final_loss(0.003, 32), rel=0.2)
    assert first["TrainingJobDefinitionName"] == "training-job-definition"
    assert rows[3]["FinalObjectiveValue"] is None and rows[3]["train:loss"] is not None
    columns, table = trial_table(load(store, "lone-job"))
    assert columns == ["TrainingJobName", "TrainingJobStatus", "epochs", "lr", "mode",
                       "TrainingStartTime", "TrainingEndTime", "TrainingElapsedTimeSeconds",
                       "train:loss", "validation:accuracy", "validation:loss"]
    assert table[0]["epochs"] == 10


def test_unknown_format(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown report format"):
        write_report(store, "tune-min", tmp_path, fmt="pdf")


# -- HTML and figures ------------------------------------------------------------------------------
def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG, path
    assert len(data) > 5000, (path, len(data))


def test_html_report(store: Store, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "report"
    paths = write_report(store, "tune-min", out)
    names = [p.name for p in paths]
    assert names == ["index.html", "objective.png", "hyperparameters.png", "learning_curves.png",
                     "parallel_coordinates.png"]
    for p in paths[1:]:
        assert_png(p)
    page = (out / "index.html").read_text()
    tbody = page.split("<tbody>")[1].split("</tbody>")[0]
    assert tbody.count("<tr") == 8
    for n in range(1, 9):
        assert tbody.count(job_name("tune-min", n)) == 1
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert srcs == names[1:] and all((out / s).is_file() for s in srcs)
    assert "http://" not in page and "https://" not in page and "<link" not in page
    best = load(store, "tune-min").best
    assert best is not None
    assert re.search(r'<tr class="best">.*?' + re.escape(best.name), tbody)
    assert tbody.index(best.name) < tbody.index(job_name("tune-min", 4))  # best first, failed last
    assert "6 of 8 training jobs plotted" in page


def test_figures_use_the_parameter_scaling(store: Store) -> None:
    pytest.importorskip("matplotlib")
    from runner.report.plots import hyperparameter_figure, parallel_coordinates

    data = load(store, "tune-min")
    axes = [a for a in hyperparameter_figure(data).axes if a.get_visible()]
    scales = {a.get_xlabel().split()[0]: a.get_xscale() for a in axes}
    assert scales == {"mini_batch_size": "log", "learning_rate": "log", "momentum": "function",
                      "l2": "linear", "optimizer": "linear"}
    assert [t.get_text() for t in axes[4].get_xticklabels()] == ["sgd", "adam", "rmsprop"]
    par_axes, lines = parallel_coordinates(data)
    assert len(par_axes) == 6 and len(lines) == 8
    for _, ys in lines:
        assert all(0.0 <= y <= 1.0 for y in ys[:5])
    assert math.isnan(lines[3][1][5]) and lines[0][1][5] >= 0  # the failed job has no objective


def test_report_is_deterministic(store: Store, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    first = write_report(store, "tune-max", tmp_path / "a")
    second = write_report(store, "tune-max", tmp_path / "b")
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_single_training_job_report(store: Store, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    paths = write_report(store, "lone-job", tmp_path)
    assert [p.name for p in paths] == ["index.html", "learning_curves.png"]
    assert_png(paths[1])
    page = paths[0].read_text()
    assert "Training job lone-job" in page and "Final metrics" in page
    for metric in ("train:loss", "validation:loss", "validation:accuracy"):
        assert f"<td>{metric}</td>" in page
    (csv_path,) = write_report(store, "lone-job", tmp_path, fmt="csv")
    assert len(csv_path.read_text().splitlines()) == 2


def test_forty_trials(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.figure  # noqa: F401  (import time is not the report's)

    store = Store(tmp_path / "home")
    trials = [
        (("Completed", "Stopped", "Completed", "Failed")[i % 4], 10 ** (-3.5 + i * 0.06), 8 + 6 * i,
               0.5 + i * 0.012, i / 400, ("sgd", "adam", "rmsprop")[i % 3]) for i in range(40)]
    record_tuning_job(store, "tune-40", trials=trials)
    paths = write_report(store, "tune-40", tmp_path / "out")
    assert len(paths) == 5
    assert (tmp_path / "out" / "index.html").read_text().count("<tr") == 41  # header + 40 trials


def test_jobs_without_objectives(tmp_path: Path) -> None:
    """A tuning job with no training job yet, one whose trials all failed, and one with a trial
    still running (its values reported within the same second: plotted by value number)."""
    pytest.importorskip("matplotlib")
    store = Store(tmp_path / "home")
    record_tuning_job(store, "empty", trials=[])
    record_tuning_job(store, "all-failed", trials=[("Failed", 0.01, 16, 0.9, 0.0, "sgd")] * 3)
    record_tuning_job(store, "running", trials=[("Completed", 0.01, 16, 0.9, 0.0, "sgd")])
    request = tuning_request("running")
    ((definition_name, _, definition),) = trial_jobs.definitions(request)
    config: dict[str, Any] = {"mini_batch_size": 8, "learning_rate": 0.1, "momentum": 0.6,
                              "l2": 0.0, "optimizer": "adam"}
    job = job_name("running", 2)
    TuningStore(store).add_trial("running", 2, definition_name, config, job)
    # not created
    TuningStore(store).add_trial("running", 3, definition_name, config, job_name("running", 3))
    trial_request = trial_jobs.trial_request(request, definition,
                                             spaces(request)[definition_name].format(config), job)
    record = status.new_record(trial_request, training_job_arn(job), T0 + 100)
    store.create_training_job(record, trial_request, {}, "running")
    status.advance(record, "Downloading", T0 + 101)
    store.save_record(record)
    store.add_metrics(job, [("validation:loss", 0.9, T0 + 103), ("validation:loss", 0.8, T0 + 103)])

    paths = write_report(store, "empty", tmp_path / "empty")
    assert [p.name for p in paths] == ["index.html", "objective.png", "hyperparameters.png",
                                       "parallel_coordinates.png"]
    assert "<tbody>\n</tbody>" in paths[0].read_text()
    series = objective_series(load(store, "all-failed"))
    assert series.points == () and series.omitted == {"Failed": 3}
    assert len(write_report(store, "all-failed", tmp_path / "all-failed")) == 5

    data = load(store, "running")
    assert [(j.status, j.objective_status) for j in data.jobs] == [("Completed", "Succeeded"),
                                                                   ("InProgress", "Pending")]
    x_label, curves = learning_curves(data)
    assert x_label == "value number" and curves["validation:loss"][1].xs == (1.0, 2.0)
    assert objective_series(data).omitted == {"InProgress": 1}
    paths = write_report(store, "running", tmp_path / "running")
    for p in paths[1:]:
        assert_png(p)
    rows = json.loads(
        write_report(store, "running", tmp_path / "running", fmt="json")[0].read_text())
    assert rows[1]["TrainingEndTime"] is None and rows[1]["TrainingElapsedTimeSeconds"] is None
    assert rows[1]["validation:loss"] == 0.8


def test_html_without_matplotlib_says_what_to_install(store: Store) -> None:
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from pathlib import Path\nfrom runner.store.jobs import Store\n"
            "from runner.report.write import write_report\n"
            f"write_report(Store(Path({str(store.home)!r})), 'tune-min', "
            f"Path({str(store.home / 'r')!r}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "ReportError: an HTML report needs matplotlib" in done.stderr
