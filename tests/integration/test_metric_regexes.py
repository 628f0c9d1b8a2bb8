"""Metric regexes that would backtrack without end never keep a job from ending, being
stopped, timing out or being resumed (real containers)."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest

from runner.core.specs import LocalOptions
from runner.engines.docker.backend import DockerBackend
from runner.store.jobs import Store
from tests.integration.conftest import probe_request, run_job
from tests.integration.test_cli import smlocal, start_smlocal, wait_for_log, write_spec
from tests.integration.test_takeover import kill

pytestmark = pytest.mark.integration

BAD_LINE = "a" * 60 + "!"
GOOD = {"Name": "m", "Regex": r"^m=(\S+)"}
# Shapes that take exponential time in a backtracking engine: searched with RE2
CATASTROPHIC = [r"(a|aa)+$", r"(\w|\d)*x", r"(x+x+)+y", r"^(a+)+b", r"(.*?,){11}P"]
# RE2 refuses the lookahead: the backtracking engine with its limit, then dropped
REFUSED = r"(?=a)(a|aa)+$"


def metric_lines(count: int) -> list[str]:
    return [line for i in range(count) for line in (f"m={i}", BAD_LINE, "1," * 40 + "x" * 40)]


def final(record: dict[str, object]) -> dict[str, float]:
    return {m["MetricName"]: m["Value"] for m in record["FinalMetricDataList"]}  # type: ignore[attr-defined, index]


def test_the_issue_job_completes_with_its_good_metric(tmp_path: Path, store: Store,
                                                      backend: DockerBackend,
                                                     test_label: str, data_dir: Path) -> None:
    request = probe_request(tmp_path, "re-issue",
                            {"mode": "metrics", "lines": json.dumps(metric_lines(5))},
                            StoppingCondition={"MaxRuntimeInSeconds": 10})
    request["AlgorithmSpecification"]["MetricDefinitions"] = [
        GOOD, *({"Name": f"bad{i}", "Regex": r} for i, r in enumerate(CATASTROPHIC)),
    ]
    started = time.monotonic()
    run = run_job(request, store, backend, test_label, tmp_path)
    assert time.monotonic() - started < 10
    assert run.record["TrainingJobStatus"] == "Completed"
    assert final(run.record) == {"m": 4.0}


def test_a_regex_re2_refuses_is_dropped_with_a_warning(tmp_path: Path, store: Store,
                                                       backend: DockerBackend,
                                                       test_label: str, data_dir: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    request = probe_request(tmp_path, "re-refused",
                            {"mode": "metrics", "lines": json.dumps(metric_lines(20))})
    request["AlgorithmSpecification"]["MetricDefinitions"] = [GOOD,
                                                              {"Name": "slow", "Regex": REFUSED}]
    with caplog.at_level(logging.WARNING, logger="smlocal"):
        run = run_job(request, store, backend, test_label, tmp_path)
    assert run.record["TrainingJobStatus"] == "Completed"
    assert final(run.record) == {"m": 19.0}
    assert [r.getMessage() for r in caplog.records if "no longer scraped" in r.getMessage()] == [
        "smlocal: training job re-refused: metric 'slow' is no longer scraped: "
        "its regex took over 0.2 s on 3 lines"
    ]


def slow_lines_request(tmp_path: Path, name: str, count: int = 400, interval: float = 0.05,
                       **extra: object) -> dict[str, object]:
    request = probe_request(tmp_path, name,
                            {"mode": "metrics", "lines": json.dumps(metric_lines(count)),
                                             "interval": str(interval)}, **extra)
    request["AlgorithmSpecification"]["MetricDefinitions"] = [  # type: ignore[index]
        GOOD, {"Name": "slow", "Regex": REFUSED}, {"Name": "bad", "Regex": CATASTROPHIC[0]},
    ]
    return request


def test_stop_and_max_runtime_go_out_while_a_bad_regex_is_in_play(tmp_path: Path, store: Store,
                                                                  backend: DockerBackend,
                                                                  test_label: str,
                                                                  data_dir: Path) -> None:
    request = slow_lines_request(tmp_path, "re-timeout",
                                 StoppingCondition={"MaxRuntimeInSeconds": 3})
    started = time.monotonic()
    run = run_job(request, store, backend, test_label, tmp_path, LocalOptions(stop_grace_seconds=2))
    assert time.monotonic() - started < 15
    assert run.record["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert final(run.record)["m"] > 0

    def stop_soon() -> None:
        time.sleep(2)
        store.request_stop("re-stop", time.time())

    stopper = threading.Thread(target=stop_soon)
    stopper.start()
    started = time.monotonic()
    run = run_job(slow_lines_request(tmp_path, "re-stop"), store, backend, test_label, tmp_path,
                  LocalOptions(stop_grace_seconds=2))
    stopper.join()
    assert time.monotonic() - started < 15
    assert run.record["TrainingJobStatus"] == "Stopped"


def test_resume_and_orphan_stop_with_a_bad_regex(tmp_path: Path, store: Store,
                                                 backend: DockerBackend, data_dir: Path) -> None:
    for name, how in (("re-resume", "resume"), ("re-orphan", "stop")):
        # a hyperparameter holds at most 2500 characters: 24 lines, 0.3 s or 1 s apart
        request = slow_lines_request(tmp_path, name, 8, 0.3 if how == "resume" else 1.0)
        spec = write_spec(tmp_path, request, f"{name}.yaml", StopGracePeriodSeconds=2)
        runner = start_smlocal(store.home, "train", str(spec))
        try:
            wait_for_log(store.home, name, "PROBE_REPORT")  # its lines echo every metric line
            time.sleep(1)
            kill(runner)
        finally:
            runner.kill()
        started = time.monotonic()
        if how == "resume":
            result = smlocal(store.home, "train", "--resume", name)
        else:
            result = smlocal(store.home, "stop", name)
        assert result.returncode == 0, result.stderr
        assert time.monotonic() - started < 60
        described = json.loads(smlocal(store.home, "describe", name).stdout)
        assert described["TrainingJobStatus"] == ("Completed" if how == "resume" else "Stopped")
        assert backend.find({"smlocal.job": name}) == []
