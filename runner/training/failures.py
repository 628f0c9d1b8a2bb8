"""FailureReason texts for what the runner sees go wrong with a container (pure but for
reading a failure file through the workspace)."""

from __future__ import annotations

from collections.abc import Callable

from runner.contract import paths as files
from runner.engines.base import ExitStatus, Workspace, WorkspaceEscape


def host_failure(
    exit_status: ExitStatus, stopped: bool, workspace: Workspace | None,
    our_reason: Callable[[], str],
) -> str | None:
    """The FailureReason of a job whose failing host ended as ``exit_status``: ours when the
    platform ended it; else (unless the job was stopped) the host's failure file's, or ours
    when it wrote none."""
    if exit_status.outside:
        return our_reason()
    if stopped:
        return None
    try:
        text = (workspace.read_text("output/failure", files.FAILURE_REASON_MAX) if workspace
                else None)
    except WorkspaceEscape as exc:
        text = f"AlgorithmError: {escape_reason(exc)}"
    return files.failure_reason(text) or our_reason()


def exit_reason(
    exit_status: ExitStatus, instance_type: str, host: str | None, tail: list[str]
) -> str:
    """Why a container that wrote no /opt/ml/output/failure ended the job (``host``: named
    when the job has several), with as many of its last log lines as fit."""
    if exit_status.outside:  # the platform's doing, not the algorithm's: retryable
        head = f"InternalServerError: {exit_status.outside} (exit code {exit_status.code})."
    elif exit_status.code == 137 and not exit_status.oom_killed:
        # SIGKILL that neither we nor the kernel's OOM killer sent: the host took the
        # container away (docker kill, a daemon restart), as an instance failure would.
        head = (
            "InternalServerError: the container was killed from outside smlocal "
            "(exit code 137, not an out-of-memory kill)."
        )
    elif exit_status.oom_killed:
        head = (
            f"AlgorithmError: the container ran out of memory and was killed (OOM, exit code "
            f"{exit_status.code}; instance type {instance_type})."
        )
    else:
        head = f"AlgorithmError: the container exited with code {exit_status.code}."
    if exit_status.error:
        head += f" Docker: {exit_status.error}."
    if host is not None:
        head = head.replace("the container", f"the container of host {host}", 1)
    return with_log_tail(head, tail, files.FAILURE_REASON_MAX)


def escape_reason(exc: WorkspaceEscape) -> str:
    """A container made a path of its workspace a link out of it: the algorithm's doing."""
    return (f"the container made {exc.container_path()} (or a folder on its way) a symbolic "
            f"link out of its workspace; smlocal does not follow it")


def with_log_tail(head: str, tail: list[str], limit: int, line_limit: int = 200) -> str:
    """``head`` and as many of the last log lines as fit in ``limit`` characters."""
    text = head[:limit]
    kept: list[str] = []
    room = limit - len(text) - len(" Last log lines:")
    for line in reversed(tail):
        line = line if len(line) <= line_limit else line[: line_limit - 3] + "..."
        if len(line) + 1 > room:
            break
        kept.append(line)
        room -= len(line) + 1
    if kept:
        text += " Last log lines:\n" + "\n".join(reversed(kept))
    return text
