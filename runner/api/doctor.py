"""``smlocal doctor``: run an image under the contract a few times, with short budgets, and say
for each clause what the cloud would find (runner.api.doctor_clauses has the verdicts).

The runs are training jobs of the store (``<job>-doctor-<run>``, so ``smlocal logs`` shows
each): the request as it is; the same under ``EnableNetworkIsolation``; the same with every
channel empty (to see a failure); one stopped after ``stop_after`` seconds with its entry
point as PID 1, as on SageMaker (SIGTERM, then SIGKILL after ``grace``), with checkpoints in a
folder of the doctor's; and one more with those checkpoints, to see whether it reads them.
Artifacts go to a folder of the doctor's (``<home>/doctor/<job>``), never to the request's
S3OutputPath.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from runner.api import doctor_clauses as clauses
from runner.api.doctor_clauses import Clause, Outcome
from runner.api.training_jobs import TrainingJobs
from runner.contract.paths import DEFAULT_CHECKPOINT_DIR
from runner.core.specs import LocalOptions, Spec
from runner.shapes.status import training_start
from runner.store.jobs import JobNotFound

PLACEHOLDER_ROLE = "arn:aws:iam::123456789012:role/SmlocalDoctor"
NAME_ROOM = 40  # of a job's name, before "-doctor-<run>"


@dataclass(frozen=True)
class DoctorOptions:
    budget: float = 60.0  # MaxRuntimeInSeconds of each run
    stop_after: float = 10.0  # seconds of training before the stop run is stopped
    grace: float = 10.0  # between SIGTERM and SIGKILL in the stop run


def image_spec(image: str, base_dir: Path) -> Spec:
    """A request that runs ``image`` as SageMaker would with nothing more said."""
    slug = "".join(c if c.isalnum() else "-" for c in image.rsplit("/", 1)[-1]).strip("-")
    request = {
        "TrainingJobName": (slug or "image")[:NAME_ROOM].rstrip("-"),
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "RoleArn": PLACEHOLDER_ROLE,
        "OutputDataConfig": {"S3OutputPath": "file://doctor-output"},
        "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }
    return Spec(request, LocalOptions(), base_dir)


class Doctor:
    def __init__(self, jobs: TrainingJobs, notify: Callable[[str], None]) -> None:
        self.jobs = jobs
        self.store = jobs.store
        self.backend = jobs.backend
        self.notify = notify

    def examine(self, spec: Spec, options: DoctorOptions) -> list[Clause]:
        request = spec.request
        algo = request["AlgorithmSpecification"]
        image = algo["TrainingImage"]
        self.base: str = request["TrainingJobName"][:NAME_ROOM].rstrip("-")
        self.folder: Path = self.store.home / "doctor" / self.base
        self.spec, self.options = spec, options
        engine, found = self.backend.architectures(image)
        out = [clauses.architecture(engine, found, image)]
        entry = " ".join(algo.get("ContainerEntrypoint") or ["train"])
        normal = self._run("run", request)
        out += [clauses.entry_point(normal, entry)]
        if out[-1].verdict == clauses.FAIL:
            return out + [Clause("the other clauses", clauses.SKIP,
                                 "not tried: the entry point does not start")]
        out += [clauses.completes(normal, options.budget), clauses.model_saved(normal)]
        out += clauses.metric_definitions(algo.get("MetricDefinitions") or [], normal)
        isolated = self._run("isolated", {**request, "EnableNetworkIsolation": True})
        out.append(clauses.network_isolation(normal, isolated))
        channels = request.get("InputDataConfig") or []
        if channels:
            out.append(clauses.failure_file(self._run("empty", self._emptied(request))))
        else:
            out.append(clauses.failure_file(None, "the request has no channels to take away; "
                                                  "give one whose job fails without its data"))
        out += self._stop_and_resume(request)
        return out

    # -- the runs ------------------------------------------------------------------------------
    def _stop_and_resume(self, request: dict[str, Any]) -> list[Clause]:
        configured = request.get("CheckpointConfig")
        folder = self._checkpoints("stop")
        with_ckpt = {**request, "CheckpointConfig": {
            "S3Uri": f"file://{folder}",
            "LocalPath": (configured or {}).get("LocalPath") or DEFAULT_CHECKPOINT_DIR}}
        options = self.options
        local = replace(self.spec.local, init_process=False,
                        stop_grace_seconds=options.grace)
        stopped = self._run("stop", with_ckpt, stop_after=options.stop_after, local=local,
                            checkpoints=False)
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        out = [clauses.sigterm(stopped, options.grace, options.stop_after),
               clauses.checkpoints_written(files, bool(configured), stopped.job)]
        if not files:
            return out + [clauses.resumed(None, False, False, stopped.job)]
        marked = _mark_unread(folder)
        again = self._run("resume", with_ckpt, stop_after=options.stop_after, checkpoints=False)
        read = _were_read(marked) if marked else None
        shutil.rmtree(folder.with_name(folder.name + "-read"), ignore_errors=True)
        same = _start(again.lines) == _start(stopped.lines)
        return out + [clauses.resumed(read, same, True, again.job)]

    def _emptied(self, request: dict[str, Any]) -> dict[str, Any]:
        empty = self.folder / "empty"
        empty.mkdir(parents=True, exist_ok=True)
        channels = []
        for channel in request.get("InputDataConfig") or []:
            source = {"S3DataType": "S3Prefix", "S3Uri": f"file://{empty}",
                      "S3DataDistributionType": "FullyReplicated"}
            channels.append({k: v for k, v in channel.items()
                             if k in ("ChannelName", "InputMode", "ContentType")}
                            | {"DataSource": {"S3DataSource": source}})
        return {**request, "InputDataConfig": channels}

    def _checkpoints(self, label: str) -> Path:
        """An empty checkpoint folder for one run (never the request's: its S3 stays as is);
        a new name when an earlier run's cannot be emptied (its containers' files)."""
        folder, n = self.folder / f"checkpoints-{label}", 1
        while folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
            if folder.exists():
                n += 1
                folder = self.folder / f"checkpoints-{label}-{n}"
        folder.mkdir(parents=True)
        return folder

    def _run(self, label: str, request: dict[str, Any], stop_after: float | None = None,
             local: LocalOptions | None = None, checkpoints: bool = True) -> Outcome:
        """One run; ``checkpoints``: a request's CheckpointConfig gets an empty folder of
        the doctor's (False: it has one of the doctor's already)."""
        name = self.jobs.free_name(f"{self.base}-doctor-{label}")
        output = self.folder / "output"
        request = {**request, "TrainingJobName": name,
                   "OutputDataConfig": {"S3OutputPath": f"file://{output}"},
                   "StoppingCondition": {"MaxRuntimeInSeconds": max(int(self.options.budget), 1)}}
        if checkpoints and request.get("CheckpointConfig"):
            request["CheckpointConfig"] = {**request["CheckpointConfig"],
                                           "S3Uri": f"file://{self._checkpoints(label)}"}
        self.notify(f"doctor: {label} ({name})")
        # every run's stop (the budget's, the stop run's) waits the doctor's grace, not 120 s
        local = local or replace(self.spec.local, stop_grace_seconds=self.options.grace)
        job = self.jobs.create_training_job(replace(self.spec, request=request, local=local))
        def trained_enough() -> bool:
            """Whether it trained ``stop_after`` seconds (never without a ``stop_after``)."""
            try:
                started = training_start(self.store.record(name))
            except JobNotFound:  # not recorded yet
                return False
            return (stop_after is not None and started is not None
                    and time.time() - started >= stop_after)

        stop_at = self.jobs.run_until(job, trained_enough)
        return self._outcome(name, self.store.record(name), output, stop_at)

    def _outcome(self, name: str, record: dict[str, Any], output: Path,
                 stop_at: float | None) -> Outcome:
        started = training_start(record)
        ended = float(record.get("TrainingEndTime") or time.time())
        workspace = self.backend.workspace(name, "algo-1")
        model = output / name / "output" / "model.tar.gz"
        files: list[str] | None = None
        if model.is_file():
            with tarfile.open(model) as tar:
                files = sorted(m.name for m in tar.getmembers() if m.isfile())
        stopped = stop_at is not None and record.get("TrainingJobStatus") == "Stopped"
        return Outcome(
            job=name, status=record.get("TrainingJobStatus", ""),
            secondary=record.get("SecondaryStatus", ""),
            failure_reason=record.get("FailureReason", ""), exit_code=record.get("ExitCode"),
            seconds=max(ended - started, 0.0) if started is not None else 0.0,
            lines=[e.line for e in self.store.iter_logs(name)],
            failure_file=workspace.read_text("output/failure", 1024),
            model_files=files, stop_to_end=ended - stop_at if stopped and stop_at else None)



def _start(lines: list[str]) -> list[str]:
    return [line for line in lines if line.strip()][:5]


def _mark_unread(folder: Path) -> dict[Path, int]:
    """Set every file's access time well before its change time, so that a read moves it
    (also under ``relatime``), and keep a hard link to each beside the folder: a program that
    reads its checkpoint and then deletes it (keeping the last few) has read it all the same.
    {} when this filesystem keeps no access times (``noatime``)."""
    shadow = folder.with_name(folder.name + "-read")
    shutil.rmtree(shadow, ignore_errors=True)
    marked = {}
    try:
        shadow.mkdir()
        probe = shadow / ".doctor-atime"
        probe.write_text("x")
        for index, path in enumerate([probe, *(p for p in folder.rglob("*") if p.is_file())]):
            link = probe if path == probe else shadow / str(index)
            if link != probe:
                os.link(path, link)
            st = link.stat()
            os.utime(link, ns=(st.st_mtime_ns - 60 * 10**9, st.st_mtime_ns))
            marked[link] = st.st_mtime_ns - 60 * 10**9
        probe.read_bytes()
    except OSError:  # files the containers made, which this user may not touch: cannot tell
        return {}
    if probe.stat().st_atime_ns == marked.pop(probe):
        return {}
    return marked


def _were_read(marked: dict[Path, int]) -> bool:
    """Whether any file ``_mark_unread`` marked was read since (through its hard link)."""
    return any(link.stat().st_atime_ns != at for link, at in marked.items())
