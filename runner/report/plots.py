"""The figures of a report, drawn with matplotlib's Agg canvas (no pyplot, no global backend
switch, nothing imported before a figure is drawn). Fixed sizes and dpi: the same store gives
the same PNGs.

objective.png             final objective per training job (creation order), best so far
hyperparameters.png       each tuned hyperparameter against the objective
learning_curves.png       every metric series of every training job, one subplot per metric
parallel_coordinates.png  each training job a line across its hyperparameters and objective
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runner.report.data import (
    TUNING,
    JobRow,
    ReportData,
    learning_curves,
    objective_series,
)
from runner.report.html import omitted_note
from runner.tuning.search_parameters import (
    CategoricalParameter,
    NumericParameter,
    Parameter,
    Scaling,
)
from runner.tuning.trials import Direction

DPI = 100
BEST_COLOUR = "tab:red"
NO_OBJECTIVE = "#9a9a9a"
MARKERS = {"Completed": ("o", "tab:blue"), "Stopped": ("v", "tab:orange"), "Failed": ("X", "black"),
           "InProgress": ("s", "tab:gray"), "Stopping": ("s", "tab:gray")}
LINESTYLES = {"Completed": "-", "Stopped": "--", "Failed": ":", "InProgress": "-.",
              "Stopping": "-."}
Colour = Any  # a matplotlib colour


def draw_all(data: ReportData, out_dir: Path) -> dict[str, str]:
    """Draw the report's figures into ``out_dir``; return {file name: title} in page order."""
    figures: list[tuple[str, str, Callable[[ReportData], Any]]] = []
    if data.kind == TUNING:
        figures += [("objective.png", "Objective per training job", objective_figure),
                    ("hyperparameters.png", "Hyperparameters against the objective",
                     hyperparameter_figure)]
    if any(job.series for job in data.jobs):
        figures.append(("learning_curves.png", "Learning curves", learning_curve_figure))
    if data.kind == TUNING and data.parameters:
        figures.append(("parallel_coordinates.png", "Parallel coordinates", parallel_figure))
    out = {}
    for file_name, title, draw in figures:
        save(draw(data), out_dir / file_name)
        out[file_name] = title
    return out


def save(fig: Any, path: Path) -> None:
    """Lay the figure out once (constrained layout), then draw it once into a PNG."""
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    fig.savefig(path, dpi=DPI, metadata={"Software": None})


def figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def grid(fig: Any, count: int, ncols: int) -> list[Any]:
    nrows = max(1, math.ceil(count / ncols))
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(nrows * ncols)]
    for ax in axes[count:]:
        ax.set_visible(False)
    return axes[:count]


def auto_log_y(ax: Any, values: Sequence[float]) -> None:
    """A log y axis when the values are positive and span two orders of magnitude or more."""
    finite = [v for v in values if math.isfinite(v)]
    if finite and min(finite) > 0 and max(finite) / min(finite) >= 100:
        ax.set_yscale("log")
        _plain_log_labels(ax.yaxis)


def _plain_log_labels(axis: Any) -> None:
    """Decimal labels on the decades of a log axis (0.001, not mathtext powers: quicker)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def objective_colours(data: ReportData) -> tuple[Any, Any] | None:
    """(colormap, norm) mapping objective values to colours, better darker; None unless at
    least two different objective values are known."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap, Normalize

    values = [j.objective for j in data.jobs if j.objective is not None]
    if len(set(values)) < 2:
        return None
    colours = colormaps["viridis"](np.linspace(0.0, 0.85, 256))  # no pale yellow on white
    if data.direction is Direction.MAXIMIZE:
        colours = colours[::-1]
    lo, hi = min(values), max(values)
    return ListedColormap(colours), Normalize(lo, hi)


def _colour_of(job: JobRow, scale: tuple[Any, Any] | None) -> Colour:
    if scale is None or job.objective is None:
        return NO_OBJECTIVE
    cmap, norm = scale
    return cmap(norm(job.objective))


def _colourbar(fig: Any, axes: Any, data: ReportData, scale: tuple[Any, Any] | None) -> None:
    if scale is None:
        return
    from matplotlib.cm import ScalarMappable

    cmap, norm = scale
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, shrink=0.9, pad=0.015,
                       aspect=30)
    bar.set_label(f"final {data.metric} ({data.direction.value})")


# -- (1) objective per training job --------------------------------------------------------------
def objective_figure(data: ReportData) -> Any:
    from matplotlib.ticker import MaxNLocator

    series = objective_series(data)
    fig = figure(9, 4.8)
    ax = fig.add_subplot()
    for status in ("Completed", "Stopped"):
        points = [p for p in series.points if p[2] == status]
        if points:
            marker, colour = MARKERS[status]
            ax.scatter([p[0] for p in points], [p[1] for p in points], marker=marker, color=colour,
                       s=36, zorder=3, label=f"{status} ({len(points)})")
    if series.best_so_far:
        xs = [x for x, _ in series.best_so_far] + [max(series.total, series.best_so_far[-1][0])]
        ys = [y for _, y in series.best_so_far] + [series.best_so_far[-1][1]]
        ax.step(xs, ys, where="post", color=BEST_COLOUR, lw=1.6, zorder=2,
                label=f"best so far ({series.direction.value})")
        best = data.best
        if best is not None and best.objective is not None:
            ax.scatter([best.number], [best.objective], marker="*", s=220, color=BEST_COLOUR,
                       edgecolor="black", zorder=4, label=f"best: #{best.number}")
        auto_log_y(ax, [p[1] for p in series.points])
        ax.legend(loc="best", fontsize=9)
    else:
        ax.text(0.5, 0.5, f"no training job has a final {series.metric} yet", ha="center",
                va="center", transform=ax.transAxes, color="dimgray")
    ax.set_xlim(0.5, max(series.total, 1) + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training job (creation order)")
    ax.set_ylabel(f"final {series.metric}")
    ax.set_title(f"{data.name}: final {series.metric} per training job ({series.direction.value})")
    ax.grid(alpha=0.3)
    if series.omitted:
        fig.supxlabel(omitted_note(series), fontsize=9, color="dimgray")
    return fig


# -- (2) hyperparameters against the objective ----------------------------------------------------
def _reverse_log_axis(ax: Any, p: NumericParameter) -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter

    ax.set_xscale("function", functions=(lambda v: -np.log1p(-np.minimum(v, 1 - 1e-12)),
                                         lambda t: -np.expm1(-t)))
    ticks = ([p.minimum]
             + [1 - 10.0 ** -k for k in range(1, 9) if p.minimum < 1 - 10.0 ** -k <= p.maximum])
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.6g}"))


def _x_position(p: Parameter, value: Any, number: int) -> float | None:
    if value is None:
        return None
    if isinstance(p, CategoricalParameter):
        if str(value) not in p.values:
            return None
        return p.values.index(str(value)) + ((number * 7) % 9 - 4) * 0.03  # fixed jitter
    return float(value)


def hyperparameter_figure(data: ReportData) -> Any:
    params = list(data.parameters)
    ncols = min(3, max(1, len(params)))
    fig = figure(4.4 * ncols, 3.6 * max(1, math.ceil(len(params) / ncols)))
    best = data.best
    scored = [j for j in data.jobs if j.objective is not None]
    for i, (ax, p) in enumerate(zip(grid(fig, len(params), ncols), params, strict=True)):
        for status in ("Completed", "Stopped"):
            xy = [(_x_position(p, j.tuned.get(p.name), j.number), j.objective)
                  for j in scored if j.status == status]
            xy = [(x, y) for x, y in xy if x is not None]
            if xy:
                marker, colour = MARKERS[status]
                ax.scatter([x for x, _ in xy], [y for _, y in xy], marker=marker, color=colour,
                           s=30, alpha=0.85, label=status)
        if best is not None:
            x = _x_position(p, best.tuned.get(p.name), best.number)
            if x is not None:
                ax.scatter([x], [best.objective], marker="*", s=200, color=BEST_COLOUR,
                           edgecolor="black", zorder=4, label="best")
        label = p.name
        if isinstance(p, CategoricalParameter):
            ax.set_xticks(range(len(p.values)), labels=list(p.values),
                          rotation=30 if sum(len(v) for v in p.values) > 24 else 0)
            ax.set_xlim(-0.5, len(p.values) - 0.5)
        elif p.scaling is Scaling.LOGARITHMIC:
            ax.set_xscale("log")
            _plain_log_labels(ax.xaxis)
            ax.set_xlim(p.minimum / 1.25, p.maximum * 1.25)
            label += " (log scale)"
        elif p.scaling is Scaling.REVERSE_LOGARITHMIC:
            _reverse_log_axis(ax, p)
            ax.set_xlim(p.minimum, p.maximum + (1 - p.maximum) * 0.5)
            label += " (reverse-log scale)"
        else:
            pad = (p.maximum - p.minimum) * 0.04
            ax.set_xlim(p.minimum - pad, p.maximum + pad)
        ax.set_xlabel(label)
        if i % ncols == 0:
            ax.set_ylabel(f"final {data.metric}")
        auto_log_y(ax, [j.objective for j in scored if j.objective is not None])
        ax.grid(alpha=0.3)
        if i == 0 and scored:
            ax.legend(fontsize=8, loc="best")
    fig.suptitle(
        f"{data.name}: hyperparameters against final {data.metric} ({data.direction.value})")
    return fig


# -- (3) learning curves --------------------------------------------------------------------------
def learning_curve_figure(data: ReportData) -> Any:
    from matplotlib.lines import Line2D

    x_label, curves = learning_curves(data)
    names = list(curves)
    ncols = min(2, len(names))
    fig = figure(6.8 * ncols + (1.2 if data.kind == TUNING else 0),
                  4.2 * math.ceil(len(names) / ncols))
    axes = grid(fig, len(names), ncols)
    scale = objective_colours(data) if data.kind == TUNING else None
    best = data.best if data.kind == TUNING else None
    statuses: set[str] = set()
    for ax, metric in zip(axes, names, strict=True):
        values: list[float] = []
        for curve in curves[metric]:
            job = curve.job
            statuses.add(job.status)
            is_best = best is not None and job is best
            colour = (BEST_COLOUR if is_best
                      else (_colour_of(job, scale) if data.kind == TUNING else "tab:blue"))
            style = LINESTYLES.get(job.status, "-")
            ax.plot(curve.xs, curve.ys, color=colour, ls=style, lw=2.6 if is_best else 1.1,
                    alpha=1.0 if is_best else 0.8, zorder=3 if is_best else 2,
                    marker="." if len(curve.xs) == 1 else None)
            if job.status == "Stopped":
                ax.plot([curve.xs[-1]], [curve.ys[-1]], marker="x", color=colour, ms=8, mew=2,
                        zorder=4)
            values += curve.ys
        auto_log_y(ax, values)
        ax.set_title(metric)
        ax.set_xlabel(x_label)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color="dimgray", ls=LINESTYLES.get(s, "-"),
                      marker="x" if s == "Stopped" else None,
                      label="Stopped (× where it stopped)" if s == "Stopped" else s)
               for s in sorted(statuses)]
    if best is not None:
        handles.append(Line2D([], [], color=BEST_COLOUR, lw=2.6,
                              label=f"best: #{best.number} {best.name}"))
    if handles:
        axes[0].legend(handles=handles, fontsize=8, loc="best")
    _colourbar(fig, axes, data, scale)
    fig.suptitle(f"{data.name}: learning curves")
    return fig


# -- (4) parallel coordinates ---------------------------------------------------------------------
@dataclass(frozen=True)
class ParallelAxis:
    label: str
    ticks: tuple[tuple[float, str], ...]  # (position in [0, 1], text)


def _unit(p: Parameter, value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(p, CategoricalParameter):
        if str(value) not in p.values:
            return math.nan
        return p.values.index(str(value)) / (len(p.values) - 1) if len(p.values) > 1 else 0.5
    return float(p.unit_from_values(np.array([float(value)]))[0])


def _numeric_ticks(p: NumericParameter) -> tuple[tuple[float, str], ...]:
    values = [p.minimum, float(p.values_from_unit(np.array([0.5]))[0]), p.maximum]
    return tuple((_unit(p, v), f"{v:.4g}") for v in values)


def parallel_coordinates(
    data: ReportData
) -> tuple[list[ParallelAxis], list[tuple[JobRow, list[float]]]]:
    """The axes (each hyperparameter in its search range under its scaling, then the objective
    between its lowest and highest value) and each training job's positions on them (NaN: none)."""
    axes = []
    for p in data.parameters:
        if isinstance(p, CategoricalParameter):
            ticks = tuple((_unit(p, v), v) for v in p.values)
            axes.append(ParallelAxis(p.name, ticks))
        else:
            scaling = {Scaling.LOGARITHMIC: "\n(log)",
                       Scaling.REVERSE_LOGARITHMIC: "\n(reverse log)"}
            axes.append(ParallelAxis(p.name + scaling.get(p.scaling, ""), _numeric_ticks(p)))
    values = [j.objective for j in data.jobs if j.objective is not None]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    span = hi - lo

    def where(v: float) -> float:
        return (v - lo) / span if span > 0 else 0.5

    axes.append(ParallelAxis(f"final\n{data.metric}",
                             tuple((where(v), f"{v:.4g}") for v in sorted({lo, (lo + hi) / 2, hi}))
                             if values else ()))
    lines = [(j, [_unit(p, j.tuned.get(p.name)) for p in data.parameters]
              + [where(j.objective) if j.objective is not None else math.nan]) for j in data.jobs]
    return axes, lines


def parallel_figure(data: ReportData) -> Any:
    axes, lines = parallel_coordinates(data)
    scale = objective_colours(data)
    best = data.best
    fig = figure(max(8.0, 1.9 * len(axes) + 1.5), 5.2)
    ax = fig.add_subplot()
    xs = list(range(len(axes)))
    # no objective first (underneath), then worst to best, the best last (on top)
    order = sorted(lines, key=lambda jl: (jl[0].objective is not None, jl[0] is best,
                                          -data.direction.loss(jl[0].objective)
                                          if jl[0].objective is not None else 0.0,
                                          jl[0].number))
    for job, ys in order:
        if job is best:
            ax.plot(xs, ys, color=BEST_COLOUR, lw=2.8, zorder=4, label=f"best: #{job.number}")
        elif job.objective is None:
            ax.plot(xs, ys, color=NO_OBJECTIVE, lw=0.9, ls=":", alpha=0.8, zorder=1)
        else:
            ax.plot(xs, ys, color=_colour_of(job, scale), lw=1.2, alpha=0.85, zorder=2)
    for x, axis in zip(xs, axes, strict=True):
        ax.axvline(x, color="black", lw=0.8, zorder=0)
        for y, text in axis.ticks:
            ax.text(x + 0.03, y, text, fontsize=8, va="center", ha="left", color="#333",
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5},
                    zorder=5)
    ax.set_xticks(xs, labels=[a.label for a in axes], fontsize=9)
    ax.set_xlim(-0.2, len(axes) - 0.6)
    ax.set_ylim(-0.06, 1.06)
    ax.set_yticks([])
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    if any(j.objective is None for j, _ in lines):
        ax.plot([], [], color=NO_OBJECTIVE, ls=":", label="no objective")
    if best is not None or any(j.objective is None for j, _ in lines):
        fig.legend(fontsize=8, loc="outside lower center", ncols=2, frameon=False)
    _colourbar(fig, ax, data, scale)
    ax.set_title(
        f"{data.name}: hyperparameters (within their search ranges) and final {data.metric}")
    return fig
