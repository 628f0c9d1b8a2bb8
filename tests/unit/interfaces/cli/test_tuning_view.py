"""Tests for runner.interfaces.cli.tuning_view: a line per event on a plain stream, a live table
otherwise."""

from __future__ import annotations

import io
from typing import Any

from runner.interfaces.cli.tuning_view import TuningView
from runner.tuning.trials import Direction

NAME = "ntm-tune"


def started(view: TuningView, trial: int, config: dict[str, Any] | None = None) -> None:
    view("trial-started", {"trial": trial, "job": f"{NAME}-{trial:03d}-0123abcd",
                           "config": config or {"lr": 0.001, "opt": "adam", "batch": 64}})


def ended(
    view: TuningView, trial: int, status: str, objective: float | None, reason: str | None = None
) -> None:
    record: dict[str, Any] = {"TrainingJobStatus": status}
    if reason is not None:
        record["FailureReason"] = reason
    view("trial-ended", {"trial": trial, "job": f"{NAME}-{trial:03d}-0123abcd", "record": record,
                         "objective": objective})


def plain(direction: Direction = Direction.MINIMIZE) -> tuple[TuningView, io.StringIO]:
    out = io.StringIO()
    return TuningView(NAME, direction, out=out, live=False), out


def test_plain_lines_for_a_whole_run() -> None:
    view, out = plain()
    started(view, 1, {"lr": 0.001, "opt": "adam", "batch": 64})
    started(view, 2, {"lr": 0.0123456789, "opt": "sgd", "batch": 16})
    view("objective", {"trial": 1, "job": "j", "value": 0.9, "epoch": 1})
    view("objective", {"trial": 2, "job": "j", "value": 1.5, "epoch": 1})
    view("objective", {"trial": 2, "job": "j", "value": 1.25, "epoch": 2})
    view("trial-early-stopped", {"trial": 2, "job": "j", "epoch": 2})
    ended(view, 1, "Completed", 0.5)
    ended(view, 2, "Stopped", 1.25)
    started(view, 3, {"lr": 0.01, "opt": "adam", "batch": 128})
    ended(view, 3, "Completed", 0.25)
    ended(view, 4, "Completed", 0.1)  # a trial the view never saw start: no line
    view("completion", {"reason": "TargetObjectiveMetricValue reached"})
    view("status", {"status": "Completed"})
    assert out.getvalue().splitlines() == [
        "[ntm-tune] trial 1 started (ntm-tune-001-0123abcd): lr=0.001 opt=adam batch=64",
        "[ntm-tune] trial 2 started (ntm-tune-002-0123abcd): lr=0.0123457 opt=sgd batch=16",
        "[ntm-tune] trial 2 stopped early at epoch 2 (objective 1.25)",
        "[ntm-tune] trial 1 Completed: objective 0.5 (best so far)",
        "[ntm-tune] trial 2 Stopped: objective 1.25",
        "[ntm-tune] trial 3 started (ntm-tune-003-0123abcd): lr=0.01 opt=adam batch=128",
        "[ntm-tune] trial 3 Completed: objective 0.25 (best so far)",
        "[ntm-tune] TargetObjectiveMetricValue reached: no new trials",
        "[ntm-tune] tuning job Completed",
    ]
    assert view.status == "Completed"


def test_plain_best_so_far_follows_the_direction() -> None:
    view, out = plain(Direction.MAXIMIZE)
    for trial in (1, 2, 3):
        started(view, trial)
    ended(view, 1, "Completed", 0.5)
    ended(view, 2, "Completed", 0.25)
    ended(view, 3, "Stopped", 0.75)
    assert out.getvalue().splitlines()[3:] == [
        "[ntm-tune] trial 1 Completed: objective 0.5 (best so far)",
        "[ntm-tune] trial 2 Completed: objective 0.25",
        "[ntm-tune] trial 3 Stopped: objective 0.75 (best so far)",
    ]


def test_plain_failed_trial_shows_the_first_line_of_its_reason_and_is_never_best() -> None:
    view, out = plain()
    started(view, 1)
    ended(view, 1, "Failed", 0.01,
          reason="AlgorithmError: the container exited with code 1.\nTraceback...\n")
    started(view, 2)
    ended(view, 2, "Completed", None)
    started(view, 3)
    reason = "InternalServerError: " + "x" * 300
    ended(view, 3, "Failed", None, reason=reason)
    lines = out.getvalue().splitlines()
    assert lines[1] == ("[ntm-tune] trial 1 Failed: objective 0.01 - AlgorithmError: the container "
                        "exited with code 1.")
    assert lines[3] == "[ntm-tune] trial 2 Completed: objective -"
    assert lines[5] == "[ntm-tune] trial 3 Failed: objective - - " + reason[:160]
    assert view.best() is None


def test_plain_status_events() -> None:
    view, out = plain()
    view("status", {"status": "Stopping"})
    view("status", {"status": "Stopped"})
    view("unknown-kind", {})
    view("objective", {"trial": 9, "value": 1.0, "epoch": 1})  # unknown trial: ignored
    assert out.getvalue() == "[ntm-tune] tuning job Stopping\n[ntm-tune] tuning job Stopped\n"
    assert view.status == "Stopped"


def test_objective_events_update_the_row_silently() -> None:
    view, out = plain()
    started(view, 1)
    before = out.getvalue()
    view("objective", {"trial": 1, "job": "j", "value": 0.75, "epoch": 3})
    assert out.getvalue() == before
    row = view.rows[1]
    assert (row.latest, row.epochs, row.status, row.final) == (0.75, 3, "InProgress", None)


def test_live_is_decided_by_the_stream() -> None:
    assert TuningView(NAME, Direction.MINIMIZE, out=io.StringIO()).live is False

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert TuningView(NAME, Direction.MINIMIZE, out=Tty()).live is True


def test_live_render() -> None:
    out = io.StringIO()
    view = TuningView(NAME, Direction.MINIMIZE, out=out, live=True)
    started(view, 3, {"lr": 0.01, "opt": "sgd"})
    started(view, 1, {"lr": 0.001, "opt": "adam"})
    started(view, 2, {"lr": 0.1, "opt": "adam"})
    view("objective", {"trial": 1, "job": "j", "value": 0.75, "epoch": 2})
    view("objective", {"trial": 2, "job": "j", "value": 2.5, "epoch": 1})
    view("trial-early-stopped", {"trial": 2, "job": "j", "epoch": 1})
    ended(view, 2, "Stopped", 2.5)
    ended(view, 1, "Completed", 0.5)
    text = view.render()
    assert text.splitlines() == [
        "ntm-tune: InProgress  Completed 1  InProgress 1  Stopped 1  best: trial 1 = 0.5",
        "   #  status      epoch        latest         final  hyperparameters",
        "   1* Completed       2          0.75           0.5  lr=0.001 opt=adam",
        "   2  Stopped         1           2.5           2.5  lr=0.1 opt=adam stopped "
        "early at epoch 1",
        "   3  InProgress      0             -             -  lr=0.01 opt=sgd",
    ]
    # each trial-ended (and status) event redraws the whole table
    written = out.getvalue()
    assert written.endswith("\x1b[H\x1b[2J" + text + "\n")
    assert "[ntm-tune]" not in written
    view("status", {"status": "Completed"})
    assert out.getvalue().endswith("\x1b[H\x1b[2J" + view.render() + "\n")
    assert view.render().splitlines()[0].startswith("ntm-tune: Completed  Completed 1")


def test_live_render_without_a_best_trial() -> None:
    view = TuningView(NAME, Direction.MAXIMIZE, out=io.StringIO(), live=True)
    started(view, 1, {"opt": "adam"})
    ended(view, 1, "Failed", None, reason="AlgorithmError: x")
    lines = view.render().splitlines()
    assert lines[0] == "ntm-tune: InProgress  Failed 1"
    assert lines[2] == "   1  Failed          0             -             -  opt=adam"
