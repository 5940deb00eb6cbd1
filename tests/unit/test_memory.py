"""The allocator tuning for large transfer buffers (``mfsync.memory``), in a real process."""

import subprocess
import sys

import pytest

SCRIPT = """
import resource
import sys
if sys.argv[1] == "tuned":
    import mfsync.memory
    print(mfsync.memory.keep_large_buffers())
else:
    print(True)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):  # a transfer's pattern: a few buffers of 1 MiB in use, freed, again
    buffers = [bytearray(1 << 20) for _ in range(8)]
    del buffers
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
def test_freed_large_buffers_are_reused_without_page_faults() -> None:
    faults = {}
    for mode in ("plain", "tuned"):
        done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True,
                              text=True, check=True, timeout=60)
        tuned, count = done.stdout.split()
        if tuned != "True":
            pytest.skip("not glibc: nothing to tune")
        faults[mode] = int(count)
    # 50 rounds of 8 MiB: untuned, glibc hands the memory back each round and faults it in
    # again (about 100,000 faults); tuned, the first round's pages serve every later one
    assert faults["tuned"] * 10 < faults["plain"], faults


COLLECTOR = """
import gc
import sys
import time
if sys.argv[1] == "tuned":
    import mfsync.memory
    mfsync.memory.tune_collector()
    print(gc.get_threshold()[0], gc.get_freeze_count() > 0)
else:
    print(gc.get_threshold()[0], False)
collections = []
gc.callbacks.append(lambda phase, info: phase == "stop" and collections.append(info))
kept = []
for i in range(100_000):  # a sync's pattern: a few objects per file, kept
    kept.append({"path": f"f{i}", "hashes": [i], "state": (i, i)})
print(len(collections), sum(1 for info in collections if info["generation"] == 2))
"""


def test_the_collector_is_tuned_to_collect_less_often() -> None:
    """In a real process: tuned, keeping 100,000 small records runs a fraction of the
    collections (young and full) that Python's defaults run."""
    seen = {}
    for mode in ("plain", "tuned"):
        done = subprocess.run([sys.executable, "-c", COLLECTOR, mode], capture_output=True,
                              text=True, check=True, timeout=60)
        threshold, frozen, runs, full = done.stdout.split()
        seen[mode] = (int(threshold), frozen == "True", int(runs), int(full))
    assert seen["tuned"][:2] == (10_000, True)
    assert seen["tuned"][2] * 5 < seen["plain"][2], seen
    assert seen["tuned"][3] <= seen["plain"][3], seen
