"""Jobs the service runs on threads of their own (the server's way: a request records the job
and answers at once), each holding its lease for as long as it runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.api.leases import hold
from runner.store import lease

log = logging.getLogger("smlocal")


def start_in_background(home: Path, kind: str, name: str, create: Callable[[], dict[str, Any]],
                        run: Callable[[], Any]) -> dict[str, Any]:
    """Take the job's lease (ResourceInUse when another process runs it), record the job
    (``create``) and ``run`` it on a thread that lets go of the lease at its end; the record
    as created. A failure of ``run`` is the job's (recorded as Failed), logged in one line."""
    held = hold(home, kind, name)
    try:
        record = create()
    except BaseException:
        held.release()
        raise
    run_held(held, kind, name, run)
    return record


def run_held(held: lease.Lease, kind: str, name: str, run: Callable[[], Any]) -> None:
    """``run`` a job whose lease is ``held`` on a thread that lets go of it at its end."""

    def work() -> None:
        try:
            run()
        except Exception as exc:
            log.warning("smlocal: %s job %s: smlocal failed: %s: %s", kind, name,
                        type(exc).__name__, exc)
        finally:
            held.release()

    threading.Thread(target=work, name=f"{kind}-{name}", daemon=True).start()


def orphans(home: Path, kind: str, names: list[str]) -> list[tuple[str, lease.Lease]]:
    """The jobs among ``names`` that no process runs (their lease was free), each with its
    lease now held."""
    out = []
    for name in names:
        held = lease.try_acquire(home, kind, name)
        if held is not None:
            out.append((name, held))
    return out
