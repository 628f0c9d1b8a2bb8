"""The comparison page of ``smlocal diff --report``: both jobs' curves on one plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.report.compare import write_comparison
from runner.store.jobs import Store

T0 = 1_700_000_000.0


def record(name: str, start: float) -> dict[str, Any]:
    return {"TrainingJobName": name, "TrainingJobArn": f"arn:aws:sagemaker:::training-job/{name}",
            "TrainingJobStatus": "Completed", "SecondaryStatus": "Completed",
            "CreationTime": start - 5, "TrainingStartTime": start, "TrainingEndTime": start + 9}


def test_both_training_jobs_curves_share_one_plot_per_metric(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    try:
        for name, start, scale in (("here", T0, 1.0), ("there", T0 + 100, 1.1)):
            store.create_training_job(record(name, start), {"TrainingJobName": name}, {})
            store.add_metrics(name, [("train:loss", scale / (i + 1), start + i) for i in range(5)]
                              + [("val:acc", 0.5 + i / 10, start + i) for i in range(5)])
        rows = [("TrainingJobStatus", "Completed", "Completed", True),
                ("final train:loss", "0.2", "0.22 (9.09% apart)", False),
                ("where", "here", "<SageMaker>", None)]
        written = write_comparison(store, "here", "there", rows, False, tmp_path / "out")
    finally:
        store.close()
    assert written == [tmp_path / "out" / "index.html", tmp_path / "out" / "curves.png"]
    page = written[0].read_text()
    assert "<h1>here vs there: differ</h1>" in page
    assert "<b>DIFFERS</b>" in page and "&lt;SageMaker&gt;" in page  # escaped
    assert written[1].stat().st_size > 5000


def test_jobs_without_metrics_get_the_table_alone(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    try:
        for name in ("a", "b"):
            store.create_training_job(record(name, T0), {"TrainingJobName": name}, {})
        written = write_comparison(store, "a", "b", [], True, tmp_path / "out")
    finally:
        store.close()
    assert written == [tmp_path / "out" / "index.html"]
    assert "a vs b: agree" in written[0].read_text()
