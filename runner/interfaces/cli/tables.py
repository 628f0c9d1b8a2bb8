"""The tables the CLI prints: columns padded to their widest cell, two spaces apart."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any


def print_columns(rows: Sequence[Sequence[str]], padded: int | None = None) -> None:
    """``rows``, their first ``padded`` columns (every one unless told) padded to the widest
    cell; the rest as they are. A line of padded cells only ends at its last character."""
    count = len(rows[0]) if padded is None else padded
    widths = [max(len(row[i]) for row in rows) for i in range(count)]
    for row in rows:
        line = "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)),
                          *row[count:]])
        print(line.rstrip() if count == len(row) else line)


def print_training_jobs(summaries: Sequence[dict[str, Any]]) -> None:
    """ListTrainingJobs' summaries (CreationTime a datetime) as `smlocal list` shows them."""
    rows = [("NAME", "STATUS", "SECONDARY", "CREATED")]
    for r in summaries:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["CreationTime"].timestamp()))
        rows.append((r["TrainingJobName"], r["TrainingJobStatus"], r.get("SecondaryStatus", ""),
                     created))
    print_columns(rows)
