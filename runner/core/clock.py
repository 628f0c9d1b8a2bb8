"""Time, injected: the wall clock in production, a fake one in tests.

Whatever waits for time to pass (a poll interval, a grace period, a container's sleep in the
fake engine) waits through a ``Clock``, so a ``FakeClock`` runs the same loops in
milliseconds: its waits return at once (a short real pause lets other threads run) and move
its time on by what was asked.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

_FAKE_PAUSE = 0.002  # the real seconds a FakeClock's wait lets other threads run


class Clock(Protocol):
    """Thread-safe: one clock serves every thread of a job."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for timeouts."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass."""
        ...

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Wait until ``event`` is set or ``timeout`` seconds passed; whether it is set."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(seconds, 0.0))

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return event.wait(max(timeout, 0.0))


class FakeClock:
    """A clock that moves only when told to (``advance``) or waited on: a wait or a sleep
    moves it on by its whole length after a real pause of a few milliseconds (sooner when the
    event is set meanwhile), so loops that poll through it run at once."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
            self._mono += seconds

    def step(self, seconds: float) -> None:
        """Step the wall clock alone, as an NTP correction or an operator's ``date -s`` does
        (back when negative); monotonic time does not move."""
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        time.sleep(_FAKE_PAUSE if seconds > 0 else 0.0)
        self.advance(max(seconds, 0.0))

    def wait(self, event: threading.Event, timeout: float) -> bool:
        if event.wait(min(max(timeout, 0.0), _FAKE_PAUSE)):
            return True
        self.advance(max(timeout, 0.0))
        return event.is_set()
