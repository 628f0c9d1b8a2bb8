"""Tests for runner.training.logpump: the sink a job's container output goes through."""

from __future__ import annotations

from pathlib import Path

from runner.contract.metrics import MetricScraper, compile_definitions
from runner.store.jobs import Store
from runner.training.logpump import FLUSH_LINES, KEEP_FREE, LogSink


def test_a_full_store_keeps_the_job_going_and_its_last_metrics(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    store.execute("PRAGMA max_page_count = 200")  # SQLite's own "disk full", a few pages on
    definitions, _ = compile_definitions([{"Name": "loss", "Regex": r"loss=(\S+)"}])
    scraper = MetricScraper(definitions)
    sink = LogSink(store, "job", scraper)
    total = 20 * FLUSH_LINES
    for i in range(total):
        sink.add("algo-1", "stdout", 1000.0 + i, f"step {i} loss={i}" + " x" * 40)
    sink.flush()
    assert sink.store_full is not None and "the store's disk is full" in sink.store_full
    stored = store.log_count("job")
    assert 0 < stored < total and stored + sink.unstored_full == total
    assert sink.held_metrics["loss"] == (1000.0 + total - 1, float(total - 1))
    assert store.log_count("job") == stored  # (reads go on working on a full store)


def test_a_nearly_full_store_keeps_its_room_for_records_and_metrics(tmp_path: Path) -> None:
    store = Store(tmp_path / "home")
    free = [KEEP_FREE * 2]
    store.free_bytes = lambda: free[0]  # type: ignore[method-assign]
    definitions, _ = compile_definitions([{"Name": "loss", "Regex": r"loss=(\S+)"}])
    sink = LogSink(store, "job", MetricScraper(definitions))
    for i in range(FLUSH_LINES):
        sink.add("algo-1", "stdout", 1000.0 + i, f"step {i} loss={i}")
    free[0] = KEEP_FREE - 1  # (the disk filled meanwhile)
    for i in range(FLUSH_LINES, 2 * FLUSH_LINES):
        sink.add("algo-1", "stdout", 1000.0 + i, f"step {i} loss={i}")
    sink.flush()
    assert sink.store_full is not None and "nearly full" in sink.store_full
    assert store.log_count("job") == FLUSH_LINES and sink.unstored_full == FLUSH_LINES
    assert len(store.metric_series("job")["loss"]) == 2 * FLUSH_LINES  # metrics still stored
    assert sink.held_metrics == {}
