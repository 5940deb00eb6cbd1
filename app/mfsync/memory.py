"""Process-wide memory settings of an mfsync process: the C allocator and Python's collector.

``keep_large_buffers``: keeping the C allocator from handing large buffers back to the kernel
after every use.

A transfer moves each byte through a few buffers of about 1 MiB (a read from the socket, a
decrypted record, a block). glibc serves allocations that large with ``mmap`` and unmaps them
when freed, so every buffer costs its pages faulted in anew: for one GiB, about 80,000 page
faults and two CPU-seconds in the kernel, more than the decryption. Raising the ``mmap``
threshold (and the trim threshold with it) lets freed buffers be reused from the heap: memory
stays as high as the transfer's working set (a few tens of MB) instead of being returned and
faulted in again. Elsewhere (musl, macOS, Windows) nothing is done.

``tune_collector``: Python's cyclic garbage collector runs a young collection every 700 new
container objects and, now and then, a full one over every object alive. A sync that takes in
thousands of files makes several objects per file (jobs, records, snapshots, index rows), so
the receiver of 10,000 small files spent 0.46 of its 5.7 CPU-seconds collecting (eight full
collections of a growing heap). What was made while starting (modules, classes) is frozen out
of the collections for good, and a young collection waits for ``YOUNG_COLLECTION`` new objects:
then it spent 0.07 s. Cyclic garbage lives a little longer; nothing else changes.
"""

import ctypes
import ctypes.util
import gc
import logging
import sys

__all__ = ["MMAP_THRESHOLD", "OLDER_COLLECTIONS", "YOUNG_COLLECTION", "keep_large_buffers",
           "tune_collector"]

log = logging.getLogger("mfsync.memory")

#: Allocations below this come from the heap (glibc's own default stops at 32 MiB; records
#: and blocks are at most 16 MiB).
MMAP_THRESHOLD = 64 * 1024 * 1024
#: New container objects between two young collections (Python's default: 700) ...
YOUNG_COLLECTION = 10_000
#: ... and collections of one generation between two of the next older one (default: 10).
OLDER_COLLECTIONS = 20
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_large_buffers() -> bool:
    """Tune glibc's allocator as the module's docstring says; whether it was done."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD))
    log.debug("allocator thresholds %s", "raised" if done else "left as they were")
    return done


def tune_collector() -> None:
    """Freeze what exists now out of the collector and space its collections out, as the
    module's docstring says: once per process (later calls do nothing), after the imports,
    before the work begins."""
    if gc.get_threshold() == (YOUNG_COLLECTION, OLDER_COLLECTIONS, OLDER_COLLECTIONS):
        return  # (a process that runs main() again, as tests do, freezes once)
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION, OLDER_COLLECTIONS, OLDER_COLLECTIONS)
