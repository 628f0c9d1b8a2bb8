"""Metric scraping cost per log line: the way before (every regex searched with the ``regex``
package on every line) against today's (RE2 with required literals, lines taken in batches
as a stream delivers them), on one generated log, measured side by side in one run.

    python benchmarks/metric_scraping.py [--lines 200000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import regex

from runner.contract.metrics import MetricScraper, compile_definitions

# What SageMaker's own algorithms and the SDK's examples define (four metrics, one log).
DEFINITIONS = [
    {"Name": "train:loss",
     "Regex": r"#quality_metric: host=\S+, epoch=\S+, train loss <loss>=(\S+)"},
    {"Name": "validation:loss", "Regex": r"validation loss=([0-9\.]+)"},
    {"Name": "validation:accuracy", "Regex": r"Validation-accuracy=([0-9\.]+)"},
    {"Name": "epoch", "Regex": r"Epoch\[(\d+)\]"},
]


def make_log(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        kind = rng.random()
        if kind < 0.05:
            lines.append(
                f"#quality_metric: host=algo-1, epoch={i}, train loss <loss>={rng.random():.6f}")
        elif kind < 0.08:
            lines.append(f"Epoch[{i // 100}] Batch [{i}] validation loss={rng.random():.5f}")
        elif kind < 0.10:
            lines.append(f"Epoch[{i // 100}] Validation-accuracy={rng.random():.4f}")
        else:
            lines.append(f"[2026-12-06 10:{i % 60:02d}:00 INFO 140{i}] batch {i} took "
                         f"{rng.random():.3f}s (throughput {rng.random() * 1000:.1f} samples/s)")
    return lines


def before(lines: list[str]) -> int:
    """HEAD before RE2: each definition's compiled ``regex`` pattern searched on each line."""
    patterns = [regex.compile(d["Regex"]) for d in DEFINITIONS]
    found = 0
    for line in lines:
        for pattern in patterns:
            match = pattern.search(line)
            if match is not None and match.group(1):
                found += 1
    return found


def per_line(lines: list[str]) -> int:
    defs, _ = compile_definitions(DEFINITIONS)
    scraper = MetricScraper(defs)
    return sum(len(scraper.feed(line, 0.0)) for line in lines)


def batched(lines: list[str], size: int = 50) -> int:
    defs, _ = compile_definitions(DEFINITIONS)
    scraper = MetricScraper(defs)
    return sum(len(scraper.feed_lines(lines[i:i + size], 0.0)) for i in range(0, len(lines), size))


def catastrophic(engine: str) -> float:
    """Seconds to search ``(a|aa)+$`` on the line of the issue (60 'a' and '!')."""
    line = "a" * 26 + "!"  # 60 would take minutes with the backtracking engine: 26 is enough
    if engine == "regex":
        pattern = regex.compile(r"(a|aa)+$")
        started = time.perf_counter()
        pattern.search(line)
        return time.perf_counter() - started
    defs, _ = compile_definitions([{"Name": "bad", "Regex": r"(a|aa)+$"}])
    scraper = MetricScraper(defs)
    started = time.perf_counter()
    scraper.feed("a" * 60 + "!", 0.0)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    log = make_log(args.lines)
    ways: dict[str, Callable[[list[str]], int]] = {
        "before: regex package, every regex on every line": before,
        "RE2 + required literals, a line at a time": per_line,
        "RE2 + required literals, batches of 50 lines": batched,
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    counts: dict[str, int] = {}
    for _ in range(args.rounds):  # interleaved, so the machine's load falls on every way alike
        for name, way in ways.items():
            started = time.perf_counter()
            counts[name] = way(log)
            times[name].append(time.perf_counter() - started)
    base = statistics.median(times[next(iter(ways))])
    print(f"{args.lines:,} lines, {len(DEFINITIONS)} metric definitions, median of {args.rounds}")
    print("| way | µs a line | ratio to before | samples |")
    print("| --- | --- | --- | --- |")
    for name in ways:
        median = statistics.median(times[name])
        print(f"| {name} | {median / args.lines * 1e6:.2f} | {median / base:.2f} | "
              f"{counts[name]:,} |")
    print(f"(a|aa)+$ on 26 'a' and '!': regex package {catastrophic('regex'):.2f} s; "
          f"RE2 on 60 'a' and '!': {catastrophic('re2') * 1e6:.0f} µs")


if __name__ == "__main__":
    main()
