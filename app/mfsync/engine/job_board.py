"""The board of download jobs: one record per job, and the status published from them.

A status covers every job of one downloader. It is published through a ``Publisher``: a change
of state within ``_STATE_INTERVAL``, progress within ``_PUBLISH_INTERVAL``, both spaced further
for many jobs; speeds and times left are stamped on it by one ``TransferRates`` meter, so that
every front end shows the same figures.
"""

from collections.abc import Callable

from mfsync.engine.download_jobs import DownloadJob, JobKey, JobRecord
from mfsync.engine.publisher import Publisher
from mfsync.engine.transfer_rates import TransferRates
from mfsync.engine.transfer_status import TransfersStatus, TransferState

__all__ = ["JobBoard", "StatusCallback"]

#: Progress (bytes) is published at most this often ...
_PUBLISH_INTERVAL = 0.1
#: ... and changes of state at most this often: a status covers every job, so publishing one
#: per change made a ``get`` of many small files quadratic in their number.
_STATE_INTERVAL = 0.02
#: A status costs a moment per job: with thousands of jobs, fewer statuses, so that publishing
#: them stays a small part of the work (10,000 jobs: one per 0.5 s). At one per 0.2 s, the
#: statuses of a ``get`` of 10,000 small files took about a tenth of a millisecond per file,
#: more than anything else it did per file once the files came in batches.
_GAP_PER_JOB = 50e-6

StatusCallback = Callable[[TransfersStatus], None]


class JobBoard:
    """The record of every job of one downloader, and their published status."""

    def __init__(self) -> None:
        self.records: dict[JobKey, JobRecord] = {}
        self._rates = TransferRates()
        self._publisher = Publisher(self.status, TransfersStatus(), name="transfer")

    def status(self) -> TransfersStatus:
        """A snapshot of every job."""
        return self._rates.stamp(tuple(map(JobRecord.snapshot, self.records.values())))

    def subscribe(self, observer: StatusCallback) -> Callable[[], None]:
        """Call ``observer`` with new statuses; returns the way out."""
        return self._publisher.subscribe(observer)

    def publish(self, *, state: bool = False) -> None:
        """Publish a status soon: within ``_STATE_INTERVAL`` of the last one for a change of
        ``state``, within ``_PUBLISH_INTERVAL`` for progress; changes between are folded."""
        gap = _STATE_INTERVAL if state else _PUBLISH_INTERVAL
        self._publisher.changed(max(gap, len(self.records) * _GAP_PER_JOB))

    def set_state(self, job: DownloadJob, state: TransferState, *, source: str | None = None,
                  error: str | None = None, size: int | None = None,
                  done: int | None = None) -> None:
        """Move ``job``'s record to ``state`` (with the fields given) and publish it."""
        self.records[job.key].set_state(state, source=source, error=error, size=size, done=done)
        self.publish(state=True)

    def deliver(self) -> None:
        """Publish the status now (the queue has just run empty: show the end at once)."""
        self._publisher.deliver()

    def close(self) -> None:
        """Publish nothing more: the downloader is stopping."""
        self._publisher.close()
