"""Asking SageMaker again and again, as every follower does: a round every ``interval``
seconds on the injected clock (never more often than once a second); a transient failure
(throttling left after botocore's retries, a network error, a 5xx) told and waited out, the
wait doubling up to a minute; any other failure raised."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from runner.aws.sagemaker import CloudError
from runner.core.clock import Clock

MIN_INTERVAL = 1.0
MAX_INTERVAL = 60.0
T = TypeVar("T")


def until_done(step: Callable[[], T | None], clock: Clock, interval: float,
               notify: Callable[[str], None], what: str) -> T:
    """``step()`` once a round until it returns something other than None: that."""
    interval = max(MIN_INTERVAL, interval)
    wait = interval
    while True:
        started = clock.monotonic()
        try:
            done = step()
            if done is not None:
                return done
            wait = interval
        except CloudError as exc:
            if not exc.transient:
                raise
            wait = min(MAX_INTERVAL, wait * 2)
            notify(f"{what}: SageMaker did not answer ({exc}); asking again in {wait:g} s")
        clock.sleep(max(MIN_INTERVAL, wait - (clock.monotonic() - started)))
