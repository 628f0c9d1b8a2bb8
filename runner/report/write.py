"""A report written to a folder: CSV, JSON, or the HTML page with its figures (matplotlib,
imported only when an HTML report is written)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from runner.report.data import FORMATS, ReportData, ReportError, load, trial_table
from runner.store.jobs import Store


def write_csv(data: ReportData, path: Path) -> None:
    columns, rows = trial_table(data)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)


def write_json(data: ReportData, path: Path) -> None:
    _, rows = trial_table(data)
    path.write_text(json.dumps(rows, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def write_report(store: Store, name: str, out_dir: Path, fmt: str = "html") -> list[Path]:
    """Write the report of tuning job or training job ``name`` into ``out_dir``; return the
    files written. ``fmt``: "html" (index.html and PNGs), "csv" (trials.csv) or "json"
    (trials.json)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
    data = load(store, name)
    out_dir.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        write_csv(data, out_dir / "trials.csv")
        return [out_dir / "trials.csv"]
    if fmt == "json":
        write_json(data, out_dir / "trials.json")
        return [out_dir / "trials.json"]
    try:
        from runner.report.plots import draw_all

        images = draw_all(data, out_dir)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "matplotlib":
            raise
        raise ReportError("an HTML report needs matplotlib: pip install 'smlocal[report]'") from exc
    from runner.report.html import render_html

    notes = [] if any(job.series for job in data.jobs) else ["No metric values were recorded."]
    index = out_dir / "index.html"
    index.write_text(render_html(data, images, notes), encoding="utf-8")
    return [index, *(out_dir / src for src in images)]
