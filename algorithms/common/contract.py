"""The SageMaker training-container contract, as the algorithms read it (standard library
only).

Everything an algorithm learns about its job comes from here: the three config files under
``input/config``, the channel folders under ``input/data``, the output folders, and the
checkpoint folder. Nothing is read from ``SM_*`` variables: the service does not set them
(the sagemaker-training toolkit computes them inside the container, and these images do not
use the toolkit).

``SM_OPT_ML_PREFIX`` (default ``/opt/ml``) moves the whole tree, for tests that run the
training code without Docker. ``CHECKPOINT_LOCAL_PATH`` (set through the request's
``Environment``) names the checkpoint folder when ``CheckpointConfig.LocalPath`` is not
the default ``/opt/ml/checkpoints``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

PREFIX_ENV = "SM_OPT_ML_PREFIX"
CHECKPOINT_ENV = "CHECKPOINT_LOCAL_PATH"
DEFAULT_PREFIX = "/opt/ml"

EXIT_CLIENT_ERROR = 2
EXIT_ALGORITHM_ERROR = 1
FILE_MODE_INPUTS = ("File", "FastFile")


class ClientError(Exception):
    """Bad input from the user: hyperparameters, data, configuration. The job fails with
    ``ClientError: <message>`` in the failure file."""


class AlgorithmError(Exception):
    """The algorithm could not finish (e.g. the loss diverged)."""


def prefix() -> Path:
    return Path(os.environ.get(PREFIX_ENV) or DEFAULT_PREFIX)


@dataclass
class Contract:
    """The job as the container sees it. ``root`` is ``/opt/ml`` (or ``$SM_OPT_ML_PREFIX``)."""

    root: Path = field(default_factory=prefix)

    @property
    def config_dir(self) -> Path:
        return self.root / "input" / "config"

    @property
    def data_dir(self) -> Path:
        return self.root / "input" / "data"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.root / "output" / "data"

    @property
    def failure_file(self) -> Path:
        return self.root / "output" / "failure"

    def _read_json(self, name: str, default: Any) -> Any:
        path = self.config_dir / name
        if not path.exists():
            return default
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ClientError(f"cannot read {path}: {exc}") from None

    def hyperparameters(self) -> dict[str, str]:
        """hyperparameters.json: a JSON object of strings (missing file: none)."""
        raw = self._read_json("hyperparameters.json", {})
        if not isinstance(raw, dict):
            raise ClientError("hyperparameters.json must hold a JSON object")
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}

    def resource_config(self) -> dict[str, Any]:
        raw = self._read_json("resourceconfig.json", {})
        if not isinstance(raw, dict):
            raise ClientError("resourceconfig.json must hold a JSON object")
        raw.setdefault("current_host", "algo-1")
        raw.setdefault("hosts", [raw["current_host"]])
        return raw

    @property
    def current_host(self) -> str:
        return str(self.resource_config()["current_host"])

    def input_data_config(self) -> dict[str, dict[str, Any]]:
        raw = self._read_json("inputdataconfig.json", {})
        if not isinstance(raw, dict):
            raise ClientError("inputdataconfig.json must hold a JSON object")
        return {str(k): (v if isinstance(v, dict) else {}) for k, v in raw.items()}

    def channel(self, name: str, *, required: bool = False,
                content_types: tuple[str, ...] = ()) -> Path | None:
        """The folder of channel ``name``, or None when the job has no such channel.
        Checks what an algorithm can check: declared in inputdataconfig.json, File or
        FastFile mode, a supported ContentType, the folder present."""
        config = self.input_data_config()
        if name not in config:
            if required:
                raise ClientError(f"the {name!r} channel is required (channels given: {', '.join(sorted(config)) or 'none'})")
            return None
        mode = config[name].get("TrainingInputMode", "File")
        if mode not in FILE_MODE_INPUTS:
            raise ClientError(f"channel {name!r}: TrainingInputMode {mode} is not supported (use File or FastFile)")
        ctype = config[name].get("ContentType")
        if ctype and content_types:
            base = ctype.split(";")[0].strip().lower()
            if base not in content_types:
                raise ClientError(f"channel {name!r}: ContentType {ctype} is not supported (supported: {', '.join(content_types)})")
        folder = self.data_dir / name
        if not folder.is_dir():
            raise ClientError(f"channel {name!r} is in inputdataconfig.json but {folder} is missing")
        return folder

    def checkpoint_dir(self) -> Path | None:
        """Where to checkpoint: ``$CHECKPOINT_LOCAL_PATH`` or ``<prefix>/checkpoints``, when
        that folder exists (the runner binds it only when the request has CheckpointConfig)."""
        configured = os.environ.get(CHECKPOINT_ENV)
        folder = Path(configured) if configured else self.root / "checkpoints"
        return folder if folder.is_dir() else None

    def write_failure(self, message: str) -> None:
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            self.failure_file.write_text(message, encoding="utf-8")
        except OSError as exc:
            print(f"could not write {self.failure_file}: {exc}", file=sys.stderr, flush=True)


def data_files(folder: Path) -> list[Path]:
    """The channel's regular files, recursively, in a stable order; hidden files and
    folders (``.something``) are skipped."""
    out: list[Path] = []
    for root, dirs, names in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out.extend(Path(root, n) for n in sorted(names) if not n.startswith("."))
    return [p for p in out if p.is_file()]


class StopFlag:
    """SIGTERM sets the flag; the training loop checks it between mini-batches, saves the
    best model and exits 0 (the service sends SIGTERM on StopTrainingJob and at
    MaxRuntimeInSeconds, and SIGKILL after the grace period).

    The handler only sets the flag (printing from a signal handler can interrupt a print in
    progress: "reentrant call"); :meth:`noticed` logs it from the training code."""

    def __init__(self) -> None:
        self.requested = False
        self.installed = False
        self._announced = False
        self._previous: Any = None

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True

    def install(self) -> bool:
        """Install the handler; False when it already was (the flag is then kept)."""
        if self.installed:
            return False
        try:
            self._previous = signal.signal(signal.SIGTERM, self._handler)
        except ValueError:  # not the main thread (in-process use in tests)
            return False
        self.installed = True
        return True

    def restore(self) -> None:
        if self.installed:
            try:
                signal.signal(signal.SIGTERM, self._previous)
            except (ValueError, TypeError):
                pass
            self.installed = False
            self._previous = None

    def noticed(self) -> bool:
        """True when a SIGTERM arrived; logs it the first time."""
        if self.requested and not self._announced:
            self._announced = True
            log("SIGTERM received: stopping after the current mini-batch, saving the best model, exiting 0")
        return self.requested


STOP = StopFlag()


def log(message: str) -> None:
    """One log line on stdout, flushed (no tabs: the service ships them as #011)."""
    print(message.replace("\t", " "), flush=True)


@contextmanager
def stop_on_sigterm() -> Iterator[StopFlag]:
    """The SIGTERM handler for the duration of a run. When the entry point installed it
    already (before importing torch), a SIGTERM that came meanwhile is kept."""
    if STOP.install():
        STOP.requested = False
        STOP._announced = False
    try:
        yield STOP
    finally:
        STOP.restore()


def run_main(body: Callable[[Contract], None], contract: Contract | None = None) -> int:
    """Run ``body`` under the contract's failure rules and return the exit code:
    0 when it returns (also after a SIGTERM it handled), 2 with ``ClientError: ...`` in the
    failure file for bad input, 1 with ``AlgorithmError: ...`` for anything else."""
    contract = contract or Contract()
    with stop_on_sigterm():
        try:
            body(contract)
            return 0
        except ClientError as exc:
            message = f"ClientError: {exc}"
            code = EXIT_CLIENT_ERROR
        except AlgorithmError as exc:
            message = f"AlgorithmError: {exc}"
            code = EXIT_ALGORITHM_ERROR
        except MemoryError:
            message = "AlgorithmError: out of memory (use a larger instance type or a smaller mini_batch_size)"
            code = EXIT_ALGORITHM_ERROR
        except Exception as exc:  # noqa: BLE001 - the failure file must say something
            traceback.print_exc()
            message = f"AlgorithmError: unexpected error: {type(exc).__name__}: {exc}"
            code = EXIT_ALGORITHM_ERROR
    print(message, file=sys.stderr, flush=True)
    contract.write_failure(message)
    return code
