"""The comparison page of two jobs (``smlocal diff A B --report``), typically the local run and
the SageMaker run of one request: the diff's table, and both jobs' curves on one plot per
metric (training jobs: each metric against seconds since each job's training start; tuning
jobs: the best objective so far against the training job's number)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runner.report.data import TUNING, ReportData, ReportError, learning_curves, load
from runner.report.data import objective_series as objective_points
from runner.report.html import CSS, e
from runner.store.jobs import Store

DiffRow = tuple[str, str, str, bool | None]  # field, A, B, agrees (None: shown only)
COLOURS = ("tab:blue", "tab:orange")


def write_comparison(store: Store, a: str, b: str, rows: Sequence[DiffRow], agree: bool,
                     out_dir: Path) -> list[Path]:
    """Write ``index.html`` (and ``curves.png`` when there is a curve) into ``out_dir``."""
    both = (load(store, a), load(store, b))
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "index.html"]
    image = ""
    try:
        fig = _tuning_figure(both) if both[0].kind == TUNING else _training_figure(both)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "matplotlib":
            raise
        raise ReportError("a comparison page needs matplotlib: pip install 'smlocal[report]'"
                          ) from exc
    if fig is not None:
        from runner.report.plots import save

        save(fig, out_dir / "curves.png")
        written.append(out_dir / "curves.png")
        image = '<img src="curves.png" alt="both jobs\' curves">'
    verdict = "agree" if agree else "differ"
    body = "".join(
        f"<tr><td>{e(f)}</td><td>{e(va)}</td><td>{e(vb)}</td>"
        f"<td>{'' if ok is None else ('same' if ok else '<b>DIFFERS</b>')}</td></tr>"
        for f, va, vb, ok in rows)
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(a)} vs {e(b)}"
            f"</title><style>{CSS}</style></head><body><h1>{e(a)} vs {e(b)}: {verdict}</h1>"
            f"{image}<table><tr><th></th><th>{e(a)}</th><th>{e(b)}</th><th></th></tr>{body}"
            "</table></body></html>\n")
    written[0].write_text(page, encoding="utf-8")
    return written


def _training_figure(both: tuple[ReportData, ReportData]) -> Any:
    from runner.report.plots import auto_log_y, figure, grid

    label, (ca, cb) = learning_curves(both[0])[0], (learning_curves(d)[1] for d in both)
    metrics = sorted(set(ca) | set(cb))
    if not metrics:
        return None
    fig = figure(6.0 * min(2, len(metrics)), 3.5 * ((len(metrics) + 1) // 2))
    for ax, metric in zip(grid(fig, len(metrics), 2), metrics, strict=True):
        values: list[float] = []
        for data, curves, colour in zip(both, (ca, cb), COLOURS, strict=True):
            for curve in curves.get(metric, []):
                ax.plot(curve.xs, curve.ys, color=colour, marker=".", label=data.name)
                values += curve.ys
        auto_log_y(ax, values)
        ax.set_title(metric)
        ax.set_xlabel(label)
        ax.legend(fontsize="small")
    return fig


def _tuning_figure(both: tuple[ReportData, ReportData]) -> Any:
    from runner.report.plots import figure

    fig = figure(7.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    for data, colour in zip(both, COLOURS, strict=True):
        series = objective_points(data)
        if series.points:
            ax.scatter([n for n, _, _ in series.points], [v for _, v, _ in series.points],
                       color=colour, alpha=0.5, s=14)
            ax.step([n for n, _ in series.best_so_far], [v for _, v in series.best_so_far],
                    where="post", color=colour, label=f"{data.name}: best so far")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training job (in creation order)")
    ax.set_ylabel(both[0].metric or "objective")
    ax.legend(fontsize="small")
    return fig
