"""The verdicts of ``smlocal doctor``, one per clause of the container contract, from what its
runs of an image showed (pure: observations in, verdicts out).

Each verdict is ``pass``, ``fail`` (with how to fix it) or ``skip`` (with why it could not be
told); the doctor's exit status is 0 only when none failed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from runner.contract.metrics import MetricScraper, compile_definitions

PASS, FAIL, SKIP = "pass", "fail", "skip"
#: Exit codes of a container whose entry point could not be run (shell conventions).
_NOT_RUN = {126: "is not executable", 127: "was not found"}
_NOT_STARTED = ("cannot start the container", "executable file not found", "exec format error",
                "no such file or directory")
#: What a program prints when it needs the network it does not have.
NETWORK_ERRORS = ("Temporary failure in name resolution", "Name or service not known",
                  "Network is unreachable", "Could not connect to the endpoint",
                  "Failed to establish a new connection", "getaddrinfo failed",
                  "Connection refused", "No route to host")


@dataclass(frozen=True)
class Clause:
    name: str
    verdict: str  # PASS, FAIL or SKIP
    seen: str  # what the runs showed
    fix: str = ""  # how to make it pass (FAIL only)
    job: str = ""  # the training job it comes from (its logs: smlocal logs JOB)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v != ""}


@dataclass(frozen=True)
class Outcome:
    """What one run of the image showed."""

    job: str
    status: str  # TrainingJobStatus
    secondary: str  # its last SecondaryStatus
    failure_reason: str = ""
    exit_code: int | None = None
    seconds: float = 0.0  # from the container's start to its end
    lines: list[str] = field(default_factory=list)  # its log
    failure_file: str | None = None  # /opt/ml/output/failure, when it wrote one
    model_files: list[str] | None = None  # in model.tar.gz (None: no artifacts)
    stop_to_end: float | None = None  # a stopped run: seconds from the stop to its end


def tail(lines: list[str], count: int = 3) -> str:
    return " | ".join(line.strip() for line in lines[-count:] if line.strip())


def entry_point(run: Outcome, entry: str) -> Clause:
    name = "entry point starts"
    text = run.failure_reason
    if run.exit_code in _NOT_RUN or any(s in text for s in _NOT_STARTED):
        why = _NOT_RUN.get(run.exit_code or 0, "could not be started")
        return Clause(name, FAIL, f"{entry} {why} ({text or f'exit code {run.exit_code}'})",
                      "give the image an executable `train` on its PATH (SageMaker runs "
                      "`docker run IMAGE train`), or set AlgorithmSpecification."
                      "ContainerEntrypoint; build it for this machine's architecture", run.job)
    return Clause(name, PASS, f"{entry} ran {run.seconds:.1f} s and ended with exit code "
                              f"{run.exit_code}", job=run.job)


def architecture(engine: str, image: str | None, image_name: str) -> Clause:
    name = "architecture matches the host"
    if image is None:
        return Clause(name, SKIP, f"no image {image_name} in the engine")
    if image == engine:
        return Clause(name, PASS, f"{image_name} is {image}, as this machine")
    return Clause(name, FAIL, f"{image_name} is {image}; this machine is {engine}",
                  f"build it for linux/{engine} (docker buildx build --platform linux/{engine}); "
                  "the instance type you deploy to decides the platform SageMaker needs")


def completes(run: Outcome, budget: float) -> Clause:
    name = "runs to completion"
    if run.status == "Completed":
        return Clause(name, PASS, f"Completed in {run.seconds:.1f} s", job=run.job)
    if run.secondary == "MaxRuntimeExceeded":
        return Clause(name, SKIP, f"still running after the budget of {budget:.0f} s "
                                  "(--budget); the model clause is not checked", job=run.job)
    return Clause(name, FAIL, f"{run.status}: {run.failure_reason or tail(run.lines)}",
                  "see its log (smlocal logs JOB) and fix the job as it is", run.job)


def model_saved(run: Outcome) -> Clause:
    name = "/opt/ml/model is not empty"
    if run.status != "Completed" or run.model_files is None:
        return Clause(name, SKIP, "the job did not complete", job=run.job)
    if run.model_files:
        shown = ", ".join(run.model_files[:5]) + (" ..." if len(run.model_files) > 5 else "")
        return Clause(name, PASS, f"model.tar.gz holds {shown}", job=run.job)
    return Clause(name, FAIL, "Completed with nothing in /opt/ml/model: model.tar.gz is empty",
                  "save the model under /opt/ml/model (SM_MODEL_DIR); SageMaker uploads only "
                  "what is there", run.job)


def failure_file(run: Outcome | None, why_not: str = "") -> Clause:
    name = "a failure writes /opt/ml/output/failure"
    if run is None:
        return Clause(name, SKIP, why_not)
    if run.status == "Completed":
        return Clause(name, SKIP, "it completed with its channels empty: no failure to see",
                      job=run.job)
    if run.failure_file:
        first = run.failure_file.strip().splitlines()[0] if run.failure_file.strip() else ""
        return Clause(name, PASS, f"failed with its channels empty and wrote: {first[:120]}",
                      job=run.job)
    return Clause(name, FAIL, f"failed with its channels empty (exit code {run.exit_code}) and "
                              "wrote no /opt/ml/output/failure",
                  "write the error (the exception and its message) to /opt/ml/output/failure "
                  "before exiting non-zero: it becomes the job's FailureReason, else SageMaker "
                  "says only 'AlgorithmError' and an exit code", run.job)


def sigterm(run: Outcome, grace: float, stop_after: float) -> Clause:
    name = "SIGTERM ends it within the grace period"
    if run.stop_to_end is None:
        return Clause(name, SKIP, f"it ended ({run.status}) before the stop at {stop_after:.0f} s"
                                  " (--stop-after)", job=run.job)
    if run.exit_code == 137 and run.stop_to_end >= grace:
        return Clause(name, FAIL, f"still running {grace:.0f} s after SIGTERM: SIGKILLed "
                                  "(its entry point ran as PID 1, as on SageMaker)",
                      "let SIGTERM reach the training process: `exec` it from an entry-point "
                      "script, forward the signal, or handle it there; on SIGTERM save a "
                      "checkpoint and exit (SageMaker SIGKILLs 120 s later, spot "
                      "interruptions included)", run.job)
    return Clause(name, PASS, f"ended {run.stop_to_end:.1f} s after SIGTERM with exit code "
                              f"{run.exit_code}", job=run.job)


def checkpoints_written(files: list[str], configured: bool, job: str) -> Clause:
    name = "checkpoints are written"
    if files:
        return Clause(name, PASS, f"{len(files)} file(s) in the checkpoint folder "
                                  f"({', '.join(files[:3])}{' ...' if len(files) > 3 else ''})",
                      job=job)
    if not configured:
        return Clause(name, SKIP, "nothing was written to the checkpoint folder, and the "
                                  "request configures no checkpoints (CheckpointConfig)", job=job)
    return Clause(name, FAIL, "nothing was written to CheckpointConfig.LocalPath before the stop",
                  "save checkpoints under CheckpointConfig.LocalPath (/opt/ml/checkpoints) as "
                  "training goes, and on SIGTERM", job)


def resumed(read: bool | None, same_start: bool, had_files: bool, job: str) -> Clause:
    """``read``: whether the second run read the checkpoint files (None: this machine cannot
    tell, its folders keep no access times); ``same_start``: whether it began with the same
    lines as the first run."""
    name = "a second run resumes from the checkpoints"
    if not had_files:
        return Clause(name, SKIP, "no checkpoint to resume from", job=job)
    if read is None:
        if same_start:
            return Clause(name, FAIL, "it began with the same lines as the first run "
                                      "(access times are not kept here to tell more)",
                          _RESUME_FIX, job)
        return Clause(name, PASS, "it began differently from the first run", job=job)
    if read:
        return Clause(name, PASS, "it read the checkpoint files the first run left", job=job)
    return Clause(name, FAIL, "it never read the checkpoint files the first run left: after a "
                              "spot interruption it would start again from scratch",
                  _RESUME_FIX, job)


_RESUME_FIX = ("at the start, load the latest checkpoint under CheckpointConfig.LocalPath "
               "(/opt/ml/checkpoints) when there is one, and carry on from its epoch")


def network_isolation(normal: Outcome, isolated: Outcome) -> Clause:
    name = "runs under EnableNetworkIsolation"
    errors = [line for line in isolated.lines if any(e in line for e in NETWORK_ERRORS)]
    if isolated.status == normal.status or isolated.status == "Completed":
        seen = f"{isolated.status} without a network, as with one"
        if errors:
            seen += f" (it printed network errors: {errors[0].strip()[:120]})"
        return Clause(name, PASS, seen, job=isolated.job)
    return Clause(name, FAIL, f"{normal.status} with a network, {isolated.status} without: "
                              f"{isolated.failure_reason or tail(isolated.lines)}"
                              + (f"; it printed: {errors[0].strip()[:120]}" if errors else ""),
                  "with EnableNetworkIsolation the container has no network: stage data through "
                  "channels, bake packages into the image, and call no AWS service from it",
                  isolated.job)


def metric_definitions(definitions: list[dict[str, Any]], run: Outcome) -> list[Clause]:
    if not definitions:
        return [Clause("metric definitions match", SKIP, "no MetricDefinitions", job=run.job)]
    compiled, problems = compile_definitions(definitions)
    out = [Clause(f"metric {p.path}", FAIL, p.message, "fix the regex") for p in problems]
    for definition in compiled:
        name = f"metric {definition.name}"
        scraper = MetricScraper([definition])
        values = [s.value for line in run.lines for s in scraper.feed(line, 0.0)]
        if definition.pattern.capture("") is not None:
            out.append(Clause(name, FAIL, f"{definition.regex!r} matches the empty string",
                              "anchor it on the text before the value (e.g. `loss=(\\S+)`)",
                              run.job))
        elif values:
            shown = ", ".join(f"{v:g}" for v in values[:3]) + (
                f" ... {values[-1]:g}" if len(values) > 3 else "")
            out.append(Clause(name, PASS, f"{len(values)} value(s): {shown}", job=run.job))
        elif scraper.rejected[definition.name]:
            out.append(Clause(name, FAIL, f"{definition.regex!r} matched, but its capture is not "
                                          "a number: "
                                          f"{scraper.first_rejected.get(definition.name)!r}",
                              "capture only the number", run.job))
        else:
            out.append(Clause(name, FAIL, f"{definition.regex!r} matched none of the "
                                          f"{len(run.lines)} lines",
                              "compare it with the lines the job prints (smlocal logs JOB)",
                              run.job))
    return out
