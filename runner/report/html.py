"""The static HTML page of a report: summary, figures and the table of training jobs.
Every piece of text goes through ``html.escape``; no external resource is referenced."""

from __future__ import annotations

import html
from collections import Counter

from runner.report.data import (
    FAILURE_SHORT,
    TUNING,
    ObjectiveSeries,
    ReportData,
    iso,
    objective_series,
    ranked,
)

CSS = """body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:90%}th{background:#eee}
tr.best td{background:#fff3c4}td.num{text-align:right;font-family:monospace}\
img{max-width:100%;display:block;margin:1em 0}
.note{color:#666}"""


def e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def fmt_number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def short(text: str, limit: int = FAILURE_SHORT) -> str:
    """The first line of ``text`` cut to ``limit`` characters, "…" where anything is left out."""
    first = (text.strip().splitlines() or [""])[0]
    cut = first[: limit - 1].rstrip() if len(first) > limit else first
    return cut if cut == text.strip() else cut + "…"


def _table(head: list[str], rows: list[tuple[str, list[str]]]) -> str:
    """``rows``: (tr class, cells already escaped as <td> elements)."""
    out = ["<table><thead><tr>", *(f"<th>{e(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for cls, cells in rows:
        out.append(f'<tr class="{cls}">' + "".join(cells) + "</tr>" if cls
                   else "<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _td(value: object, numeric: bool = False, title: str | None = None) -> str:
    attrs = ' class="num"' if numeric else ""
    if title:
        attrs += f' title="{e(title)}"'
    return f"<td{attrs}>{e(fmt_number(value))}</td>"


def _images(images: dict[str, str]) -> str:
    return "\n".join(f'<h2>{e(title)}</h2>\n<img src="{e(src)}" alt="{e(title)}">'
                     for src, title in images.items())


def render_html(data: ReportData, images: dict[str, str], notes: list[str] | None = None) -> str:
    """The page: a summary, the figures (``images``: relative file name -> title), the table."""
    kind = "Hyperparameter tuning job" if data.kind == TUNING else "Training job"
    status = (data.record.get("HyperParameterTuningJobStatus")
              or data.record.get("TrainingJobStatus"))
    parts = [f"<h1>{e(kind)} {e(data.name)}</h1>", f"<p>Status: <b>{e(status)}</b>"]
    if data.kind == TUNING:
        series = objective_series(data)
        parts[-1] += f" &middot; objective: {e(data.metric)} ({e(data.direction.value)})"
        counts = ", ".join(f"{n} {e(s)}"
                           for s, n in sorted(Counter(j.status for j in data.jobs).items()))
        parts[-1] += (f" &middot; {len(data.jobs)} training jobs"
                      + (f" ({counts})</p>" if counts else "</p>"))
        best = data.best
        if best is not None:
            tuned = ", ".join(f"{e(k)}={e(fmt_number(v))}" for k, v in best.tuned.items())
            parts.append(f"<p>Best training job: <b>{e(best.name)}</b> (#{best.number}), "
                         f"{e(data.metric)} = {e(fmt_number(best.objective))}; {tuned}</p>")
        if series.omitted:
            parts.append(f'<p class="note">{e(omitted_note(series))}</p>')
    else:
        parts[-1] += "</p>"
        if data.jobs[0].failure_reason:
            parts.append(f"<p>FailureReason: <code>{e(data.jobs[0].failure_reason)}</code></p>")
    parts += [f'<p class="note">{e(n)}</p>' for n in notes or []]
    parts.append(_images(images))
    parts.append(_tuning_table(data) if data.kind == TUNING else _training_tables(data))
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{e(data.name)}</title><style>{CSS}</style></head>\n<body>\n{body}\n</body></html>\n")


def omitted_note(series: ObjectiveSeries) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in series.omitted.items())
    total = sum(series.omitted.values())
    return (f"{len(series.points)} of {series.total} training jobs plotted; {total} without a "
            f"final {series.metric} not plotted ({counts}).")


def _tuning_table(data: ReportData) -> str:
    best = data.best
    head = ["#", "Training job", "Status", "Objective status", data.metric or "Objective",
            *(p.name for p in data.parameters), "Duration", "Failure reason"]
    rows = []
    for job in ranked(data):
        cells = [_td(job.number, True), _td(job.name), _td(job.status), _td(job.objective_status),
                 _td(job.objective, True),
                 *(_td(job.tuned.get(p.name), True) for p in data.parameters),
                 _td(fmt_duration(job.elapsed), True),
                 _td(short(job.failure_reason), title=job.failure_reason or None)]
        rows.append(("best" if job is best else "", cells))
    return "<h2>Training jobs (best first)</h2>\n" + _table(head, rows)


def _training_tables(data: ReportData) -> str:
    job = data.jobs[0]
    finals = [(m["MetricName"], m["Value"]) for m in job.record.get("FinalMetricDataList") or []]
    parts = ["<h2>Final metrics</h2>"]
    if finals:
        parts.append(_table(["Metric", "Value", "Values reported"],
                            [("", [_td(n), _td(float(v), True),
                                   _td(len(job.series.get(n, [])), True)])
                             for n, v in finals]))
    else:
        parts.append('<p class="note">No final metrics.</p>')
    info: list[tuple[str, object]] = [
        ("TrainingJobStatus", job.status), ("TrainingStartTime", iso(job.start)),
        ("TrainingEndTime", iso(job.end)), ("Duration", fmt_duration(job.elapsed)),
        *job.tuned.items()]
    parts.append("<h2>Job</h2>")
    parts.append(_table(["Field", "Value"], [("", [_td(k), _td(v)]) for k, v in info]))
    return "\n".join(parts)


# -- the entry point -------------------------------------------------------------------------
