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
