"""A test hook, inert unless ``MFSYNC_TEST_LOOP_PROBE=1`` is set: measures event-loop stalls.

A task sleeps ``PROBE_INTERVAL`` again and again; whatever it oversleeps is time the loop spent
in other callbacks without coming back to it. The longest such stall is logged when the probe
stops (and each new longest one above ``REPORT_ABOVE`` at once, so that a test sees it even
if the process is killed). Only tests set the variable: the end-to-end suite asserts that a
flood of indexes never stalls the loop (``tests/e2e/test_hostile_index.py``).
"""

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator

__all__ = ["PROBE_ENV", "probe_loop"]

log = logging.getLogger("mfsync.engine.probe")

#: The environment variable that turns the probe on (tests only).
PROBE_ENV = "MFSYNC_TEST_LOOP_PROBE"
#: The probe's sleep: short enough to see stalls of a few tens of milliseconds.
PROBE_INTERVAL = 0.01
#: A new longest stall above this is logged as it happens.
REPORT_ABOVE = 0.05


async def _probe(longest: list[float]) -> None:
    loop = asyncio.get_running_loop()
    last = loop.time()
    while True:
        await asyncio.sleep(PROBE_INTERVAL)
        now = loop.time()
        stall = now - last - PROBE_INTERVAL
        last = now
        if stall > longest[0]:
            longest[0] = stall
            if stall > REPORT_ABOVE:
                log.warning("test hook: the event loop stalled for %.0f ms", stall * 1000)


@contextlib.contextmanager
def probe_loop() -> Iterator[None]:
    """Run the probe on the running loop for the duration of the block, if the test hook's
    variable is set; otherwise do nothing."""
    if os.environ.get(PROBE_ENV) != "1":
        yield
        return
    longest = [0.0]
    task = asyncio.get_running_loop().create_task(_probe(longest))
    try:
        yield
    finally:
        task.cancel()
        log.warning("test hook: longest event-loop stall %.0f ms", longest[0] * 1000)
