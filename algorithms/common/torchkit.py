"""What both torch algorithms need besides the contract: the device, threads and seeds,
optimizers and gradient rules, CSV channels, checkpoints, metric lines."""

from __future__ import annotations

import math
import os
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from algorithms.common.contract import ClientError, data_files, log

# ---------------------------------------------------------------------------------------
# Device, threads, seeds


def cpu_limit() -> int:
    """CPUs this process may use: the affinity mask, capped by a cgroup CPU quota (the
    runner limits CPUs per instance type; torch would otherwise start one thread per
    host core)."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        count = os.cpu_count() or 1
    quota = None
    try:  # cgroup v2
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            quota = float(text[0]) / float(text[1])
    except (OSError, ValueError, IndexError):
        try:  # cgroup v1
            q = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
            p = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
            if q > 0 and p > 0:
                quota = q / p
        except (OSError, ValueError):
            pass
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def thread_count() -> int:
    """Threads for torch's CPU ops: ``$OMP_NUM_THREADS`` (set it through the request's
    Environment) capped at :func:`cpu_limit`, else 1. One thread is the default on purpose:
    these models are small (2 threads gain ~15% on an idle 2-core machine), a tuning job
    runs several trials side by side, and OpenMP threads that spin-wait for a busy core make
    an epoch up to 20x slower (measured: 0.04 s vs 1.6 s an epoch on a loaded 2-core host)."""
    raw = os.environ.get("OMP_NUM_THREADS", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return min(int(raw), cpu_limit())
    return 1


def configure_runtime(seed: int) -> torch.device:
    """Pick the device (CUDA when torch sees one, CPU otherwise), size the thread pool, and
    make training repeatable: the same seed and data give the same losses (deterministic
    algorithms; on CUDA the cuBLAS workspace setting they need)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    threads = thread_count()
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set (a second run in one process)
        pass
    if torch.cuda.is_available():
        device = torch.device("cuda", 0)
        torch.cuda.manual_seed_all(seed)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        log(f"device: cuda:0 ({torch.cuda.get_device_name(0)}), torch {torch.__version__}")
    else:
        device = torch.device("cpu")
        log(f"device: cpu ({threads} thread{'s' if threads != 1 else ''}), torch {torch.__version__}")
    return device


# ---------------------------------------------------------------------------------------
# Optimizers and gradients

OPTIMIZERS = ("sgd", "adam", "adadelta", "adagrad", "rmsprop")


def make_optimizer(name: str, params: Any, learning_rate: float, weight_decay: float,
                   momentum: float = 0.0, mxnet_adadelta: bool = False) -> torch.optim.Optimizer:
    """torch's optimizers; ``weight_decay`` is the L2 coefficient added to the gradient
    (as MXNet's ``wd``), ``momentum`` applies to sgd and rmsprop.

    ``mxnet_adadelta``: adadelta as MXNet 1.x (which SageMaker's NTM runs on) has it:
    rho 0.9, epsilon 1e-5, and no learning rate at all (the step is the AdaDelta step;
    ``learning_rate`` is ignored), i.e. torch's Adadelta with lr=1."""
    if name == "adadelta" and mxnet_adadelta:
        return torch.optim.Adadelta(params, lr=1.0, rho=0.9, eps=1e-5, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=learning_rate, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=learning_rate, weight_decay=weight_decay)
    if name == "adadelta":
        return torch.optim.Adadelta(params, lr=learning_rate, weight_decay=weight_decay)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=learning_rate, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=learning_rate, momentum=momentum, weight_decay=weight_decay)
    raise ClientError(f"optimizer {name!r} is not supported (supported: {', '.join(OPTIMIZERS)})")


def adjust_gradients(params: Any, rescale: float = 1.0, clip: float = math.inf) -> None:
    """MXNet's gradient rules, which SageMaker's built-ins expose: multiply every gradient
    by ``rescale``, then clip each element to [-clip, clip]."""
    for p in params:
        if p.grad is None:
            continue
        if rescale != 1.0:
            p.grad.mul_(rescale)
        if math.isfinite(clip):
            p.grad.clamp_(-clip, clip)


# ---------------------------------------------------------------------------------------
# Data


def load_csv_channel(folder: Path, channel: str) -> np.ndarray:
    """Every file of a channel as one float64 matrix: CSV, no header, one record a row,
    the same number of columns in every file. Bad data is a ClientError naming the file."""
    parts = []
    width = None
    files = data_files(folder)
    for path in files:
        rel = path.relative_to(folder)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Empty input file"
                arr = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ClientError(f"channel {channel!r}: {rel} is not a CSV of numbers (no header, comma-separated): {exc}") from None
        if arr.size == 0:
            continue
        if not np.isfinite(arr).all():
            row = int(np.argwhere(~np.isfinite(arr))[0][0]) + 1
            raise ClientError(f"channel {channel!r}: {rel} row {row} holds a value that is not finite")
        if width is not None and arr.shape[1] != width:
            raise ClientError(f"channel {channel!r}: {rel} has {arr.shape[1]} columns, the channel's other files {width}")
        width = arr.shape[1]
        parts.append(arr)
    if not parts:
        raise ClientError(f"channel {channel!r} holds no data ({len(files)} file(s), all empty)")
    data = np.vstack(parts)
    log(f"channel {channel}: {data.shape[0]} rows x {data.shape[1]} columns from {len(parts)} file(s)")
    return data


# ---------------------------------------------------------------------------------------
# Metric lines


def metric_line(host: str, epoch: int | None, channel: str, name: str, value: float,
                kind: str = "loss") -> str:
    """``#quality_metric: host=algo-1, epoch=3, validation total_loss <loss>=123.456789``
    (SageMaker's built-in algorithms' shape; no epoch for the final test metrics)."""
    where = f"host={host}, " + (f"epoch={epoch}, " if epoch is not None else "")
    return f"#quality_metric: {where}{channel} {name} <{kind}>={value:.6f}"


def metric_regex(channel: str, name: str, kind: str = "loss", per_epoch: bool = True) -> str:
    """The MetricDefinitions regex that matches :func:`metric_line`'s lines."""
    epoch = r"epoch=\d+, " if per_epoch else ""
    return rf"#quality_metric: host=\S+, {epoch}{channel} {name} <{kind}>=(\S+)"


# ---------------------------------------------------------------------------------------
# Checkpoints


class Checkpoints:
    """``checkpoint-<epoch>.pt`` files in a folder, written atomically (temporary name,
    then rename) so a SIGKILL never leaves a half-written latest checkpoint; the newest
    ``keep`` are kept (the service propagates deletions to S3)."""

    PREFIX, SUFFIX = "checkpoint-", ".pt"

    def __init__(self, folder: Path, keep: int = 2):
        self.folder = folder
        self.keep = keep

    def _epochs(self) -> list[tuple[int, Path]]:
        out = []
        for path in self.folder.glob(f"{self.PREFIX}*{self.SUFFIX}"):
            stem = path.name[len(self.PREFIX):-len(self.SUFFIX)]
            if stem.isdigit():
                out.append((int(stem), path))
        return sorted(out)

    def save(self, epoch: int, state: dict[str, Any]) -> Path:
        path = self.folder / f"{self.PREFIX}{epoch:05d}{self.SUFFIX}"
        tmp = self.folder / f".{path.name}.tmp"
        torch.save(state, tmp)
        os.replace(tmp, path)
        for _epoch, old in self._epochs()[:-self.keep]:
            old.unlink(missing_ok=True)
        return path

    def latest(self) -> tuple[Path, dict[str, Any]] | None:
        """The newest checkpoint that loads, or None. A file that does not load (cut short
        by an earlier kill) is reported and skipped."""
        for _epoch, path in reversed(self._epochs()):
            try:
                return path, torch.load(path, map_location="cpu", weights_only=False)
            except Exception as exc:  # noqa: BLE001 - any unreadable file is skipped
                log(f"checkpoint {path.name} does not load ({type(exc).__name__}: {exc}); trying an older one")
        return None
