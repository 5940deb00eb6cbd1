"""Keeping the C allocator from handing large buffers back to the kernel after every use.

A transfer moves each byte through a few buffers of about 1 MiB (a read from the socket, a
decrypted record, a block). glibc serves allocations that large with ``mmap`` and unmaps them
when freed, so every buffer costs its pages faulted in anew: for one GiB, about 80,000 page
faults and two CPU-seconds in the kernel, more than the decryption. Raising the ``mmap``
threshold (and the trim threshold with it) lets freed buffers be reused from the heap: memory
stays as high as the transfer's working set (a few tens of MB) instead of being returned and
faulted in again. Elsewhere (musl, macOS, Windows) nothing is done.
"""

import ctypes
import ctypes.util
import logging
import sys

__all__ = ["MMAP_THRESHOLD", "keep_large_buffers"]

log = logging.getLogger("mfsync.memory")

#: Allocations below this come from the heap (glibc's own default stops at 32 MiB; records
#: and blocks are at most 16 MiB).
MMAP_THRESHOLD = 64 * 1024 * 1024
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
