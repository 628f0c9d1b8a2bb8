"""Following a training job that runs on SageMaker, into the store, as a local job is recorded:
its record (DescribeTrainingJob's answer, times as epoch seconds, and where it runs) saved
whenever it changes, each new SecondaryStatus told, its CloudWatch log lines stored and
echoed, and the values of its MetricDefinitions scraped from those lines and stored (the
same scraper as a local job's), so ``describe``, ``logs``, ``report`` and ``diff`` read a
cloud job as they read a local one.

Pacing (``runner.cloud.pacing``): one round (a DescribeTrainingJob, a DescribeLogStreams and one
GetLogEvents page per stream) every ``interval`` seconds, never more often than once a second;
transient failures waited out, any other ends the following, not the job. Ctrl-C
(KeyboardInterrupt) leaves the cloud job running: following it again (another process, later)
carries on from the lines already stored. Lines are stored
under their stream's own name (``algo-1-1700000000``) as their host, so that a follower that
carries on skips exactly what each stream gave before (a restarted host has a stream more).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from runner.aws.sagemaker import Place, SageMakerCloud
from runner.cloud.pacing import MIN_INTERVAL, until_done
from runner.contract.metrics import MetricSample, MetricScraper, compile_definitions
from runner.core.clock import Clock
from runner.shapes.status import is_terminal
from runner.shapes.training_jobs import PLACE_KEY, epoch_seconds
from runner.store.jobs import Store

Echo = Callable[[str, str, str], None]  # (host, stream, line)


def to_record(described: dict[str, Any], place: Place) -> dict[str, Any]:
    """A DescribeTrainingJob answer as the store keeps records: datetimes as epoch seconds."""
    return {**epoch_seconds(described), PLACE_KEY: place.to_record()}


class CloudFollower:
    """Follows one stored cloud training job until it ends (see the module's rules)."""

    def __init__(self, name: str, store: Store, cloud: SageMakerCloud, clock: Clock,
                 notify: Callable[[str], None], echo: Echo | None = None,
                 interval: float = 2.0,
                 on_metric: Callable[[MetricSample], None] | None = None,
                 tell: bool = True) -> None:
        self.name = name
        self.store = store
        self.cloud = cloud
        self.clock = clock
        self.notify = notify
        self.echo = echo
        self.interval = interval
        self.on_metric = on_metric
        self.tell = tell  # each new SecondaryStatus to ``notify`` (a trial's are not told)
        self.place = cloud.place()
        request, _ = store.request(name)
        definitions = (request.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or []
        self.scraper = MetricScraper(compile_definitions(definitions)[0], warn=notify)
        self._tokens: dict[str, str | None] = {}
        self._skip = Counter(store.host_line_counts(name))  # lines stored already, by stream
        self._told = 0  # transitions told (a follower starts with the story so far)
        stored = store.record(name)  # what only this store knows: the trial's tuning job
        self._kept = {k: stored[k] for k in ("TuningJobArn",) if k in stored}

    def follow(self) -> dict[str, Any]:
        """Until the job ends: its final record (as stored). A job recorded as ended (one
        imported after its end) gets its log lines read, nothing more."""
        stored = self.store.record(self.name)
        ended = stored if is_terminal(stored) else None
        return until_done(lambda: self._step(ended), self.clock, self.interval, self.notify,
                          f"training job {self.name}")

    def _step(self, ended: dict[str, Any] | None) -> dict[str, Any] | None:
        """One round; the final record once the job ended and its last lines are read."""
        if ended is not None:
            self._drain()
            return ended
        record = self._round()
        if is_terminal(record):
            self._drain()  # (a failure here: the next round describes it again)
            self.store.save_record(record)
            return record
        self.store.save_record(record)
        return None

    def _round(self) -> dict[str, Any]:
        """One round: the job's record now (not yet saved) and its new log lines (stored)."""
        record = {**to_record(self.cloud.describe_training_job(self.name), self.place),
                  **self._kept}
        if self.tell:
            self._tell(record)
        self._read_logs()
        return record

    def _tell(self, record: dict[str, Any]) -> None:
        transitions = record.get("SecondaryStatusTransitions") or []
        for transition in transitions[self._told:]:
            message = transition.get("StatusMessage")
            self.notify(f"training job {self.name}: {transition.get('Status')}"
                        + (f": {message}" if message else ""))
        self._told = max(self._told, len(transitions))

    def _read_logs(self) -> bool:
        """One page of each stream's new events, stored (and echoed); whether any stream
        moved on (a page of lines stored before counts; so does an empty page with a new
        token, which CloudWatch may hand out mid-stream)."""
        for stream in self.cloud.log_streams(self.name):
            self._tokens.setdefault(stream, None)
        moved = False
        for stream, token in list(self._tokens.items()):
            events, self._tokens[stream] = self.cloud.log_events(stream, token)
            moved |= bool(events) or self._tokens[stream] != token
            self._keep(stream.rpartition("/")[2], events)
        return moved

    def _keep(self, host: str, events: list[tuple[float, str]]) -> None:
        skipped = min(self._skip[host], len(events))
        self._skip[host] -= skipped
        events = events[skipped:]
        if not events:
            return
        self.store.add_logs(self.name, [(host, "stdout", ts, line) for ts, line in events])
        samples = self.scraper.feed_lines([line for _, line in events],
                                          [ts for ts, _ in events])
        if samples:
            self.store.add_metrics(self.name, [(s.name, s.value, s.timestamp) for s in samples])
            for sample in samples:
                if self.on_metric is not None:
                    self.on_metric(sample)
        if self.echo is not None:
            for _, line in events:
                self.echo(host, "stdout", line)

    def _drain(self) -> None:
        """The lines written before the job ended that the rounds have not read yet (CloudWatch
        may deliver them late): pages until no stream moves on."""
        while self._read_logs():
            self.clock.sleep(MIN_INTERVAL)
