"""The lease of a job the service is about to run (``runner.store.lease``): held by this process, or
ResourceInUse naming the lease file of the process that runs it."""

from __future__ import annotations

from pathlib import Path

from runner.api.errors import ResourceInUse
from runner.store import lease


def hold(home: Path, kind: str, name: str) -> lease.Lease:
    """``kind``: ``lease.TRAINING`` or ``lease.TUNING``; waits a second for a runner that is
    just ending."""
    held = lease.try_acquire(home, kind, name, wait=1.0)
    if held is None:
        raise ResourceInUse(f"{name}: the {kind} job is being run by another smlocal process "
                            f"(see {lease.lease_path(home, kind, name)})")
    return held
