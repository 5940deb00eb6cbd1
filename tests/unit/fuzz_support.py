"""Shared machinery of the decoder fuzzing suites (``test_fuzz_decoders.py``,
``test_fuzz_sessions.py``, ``test_fuzz_files.py``).

How it works: every decoder call goes through :func:`run_decoder`, which counts the case, lets
through only the decoder's own refusal errors (anything else is counted and re-raised, so the
test fails and hypothesis shrinks and prints the input), and measures with ``tracemalloc`` the
peak memory the call allocated. That peak must stay within :func:`alloc_budget`: a fixed
expansion factor times the bytes that actually arrived (capped at what the decoder accepts at
all), plus a small constant. An input that merely *claims* a huge length or count therefore
fails the test the moment a decoder allocates for the claim instead of for the bytes.

Inputs come from plain random bytes and from :func:`mutated`: valid encodings put through a few
flips, inserts, deletes, truncations, duplications and overwritten integers, so that the fuzzer
gets past magic numbers and length checks into the deeper fields.

``MFSYNC_FUZZ_EXAMPLES`` (a positive number, default 1) multiplies every suite's
``max_examples``: ``MFSYNC_FUZZ_EXAMPLES=50 pytest tests/unit/test_fuzz_*.py`` for a long run.
Runs are not derandomized; a failure prints its input and a ``@reproduce_failure`` blob, and
hypothesis replays it first on the next run from its example database.
"""

from __future__ import annotations

import os
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import figures

__all__ = [
    "ALLOC_MARGIN",
    "EXAMPLES_FACTOR",
    "EXPANSION",
    "Mutation",
    "alloc_budget",
    "apply_mutations",
    "fuzz_figures",
    "fuzz_settings",
    "mutated",
    "mutations",
    "report",
    "run_decoder",
    "tally",
]

T = TypeVar("T")

#: Figures of these suites go under this name (``tests/figures.py``).
SUITE = "fuzz"


def _examples_factor() -> float:
    text = os.environ.get("MFSYNC_FUZZ_EXAMPLES", "1")
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ValueError(f"MFSYNC_FUZZ_EXAMPLES must be a positive number, not {text!r}")
    return value


#: Multiplies every ``max_examples`` (environment variable ``MFSYNC_FUZZ_EXAMPLES``).
EXAMPLES_FACTOR = _examples_factor()

#: Decoded Python objects take up to ~5 times their wire size (an IndexChunk of minimal entries:
#: an int, a bytes and a dataclass per 52 wire bytes); 8 leaves room without hiding a leak.
EXPANSION = 8
#: Fixed cost of one call whatever the input: exception objects, messages, enum lookups
#: (measured at 1-3 KiB). Far below every large cap (1 MiB records, 16384-item counts).
ALLOC_MARGIN = 8 * 1024


def fuzz_settings(examples: int) -> settings:
    """Hypothesis settings for one fuzz test: ``examples`` times ``EXAMPLES_FACTOR`` cases,
    no deadline (tracemalloc and a loaded machine make timings noisy), and a reproduction
    blob printed with every failure."""
    return settings(
        max_examples=max(1, round(examples * EXAMPLES_FACTOR)),
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )


def alloc_budget(input_size: int, cap: int) -> int:
    """The most a decoder may allocate for ``input_size`` bytes when it accepts at most ``cap``:
    an input over the cap must be refused before it is parsed, so only the margin is allowed."""
    parsed = input_size if input_size <= cap else 0
    return EXPANSION * parsed + ALLOC_MARGIN


@dataclass
class Tally:
    """What the running test did: cases per decoder and the failures it found."""

    cases: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    unexpected_exceptions: int = 0
    over_cap_allocations: int = 0
    round_trips: int = 0
    #: Other things worth a figure, reported under their own names (how deep a fuzzer got).
    reached: Counter[str] = field(default_factory=Counter)

    def clear(self) -> None:
        """Forget everything (at the start of each test)."""
        self.cases.clear()
        self.refused.clear()
        self.reached.clear()
        self.unexpected_exceptions = self.over_cap_allocations = self.round_trips = 0


tally = Tally()


def report() -> None:
    """Add what the test just did to the ``fuzz`` figures (numbers add up across tests)."""
    numbers: dict[str, int] = {f"{name}_cases": n for name, n in sorted(tally.cases.items())}
    numbers["cases_total"] = sum(tally.cases.values())
    numbers["refused_total"] = sum(tally.refused.values())
    numbers["round_trips"] = tally.round_trips
    numbers.update(tally.reached)
    numbers["unexpected_exceptions"] = tally.unexpected_exceptions
    numbers["over_cap_allocations"] = tally.over_cap_allocations
    figures.record(SUITE, **numbers)
    tally.clear()


@pytest.fixture(autouse=True)
def fuzz_figures() -> Iterator[None]:
    """Count each test's cases from zero and add them to the figures when it ends (autouse in
    every module that imports it)."""
    tally.clear()
    yield
    report()


def run_decoder(
    decoder: str,
    call: Callable[[], T],
    *,
    refusals: tuple[type[BaseException], ...],
    budget: int,
) -> T | None:
    """Run ``call`` (one decode) as case ``decoder``: its value, or None when it raised one of
    ``refusals``. Any other exception is counted and re-raised; a peak allocation above
    ``budget`` bytes fails with an AssertionError."""
    tally.cases[decoder] += 1
    already = tracemalloc.is_tracing()
    if already:
        tracemalloc.reset_peak()
    else:
        tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    result: T | None = None
    try:
        result = call()
    except refusals:
        tally.refused[decoder] += 1
    except Exception:
        tally.unexpected_exceptions += 1
        raise
    finally:
        peak = tracemalloc.get_traced_memory()[1] - base
        if not already:
            tracemalloc.stop()
    if peak > budget:
        tally.over_cap_allocations += 1
        raise AssertionError(f"{decoder}: the decode allocated {peak} bytes at its peak, "
                             f"more than its budget of {budget}")
    return result


# -- mutations of valid encodings ---------------------------------------------------------------

#: (operation, position, argument); positions are taken modulo the length at the time, so that
#: one list of mutations applies to inputs computed inside a test (handshakes with fresh keys).
Mutation = tuple[str, int, Any]

#: Values that probe length and count checks: zero, one, around our caps, the largest of a width.
_INTERESTING = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x3F, 0x40, 1024, 1025, 4096, 4097, 16384,
                16385, 0xFFFF, 1 << 20, (1 << 20) + 1, (1 << 20) + 1041, 0x7FFFFFFF, 0xFFFFFFFF,
                2**62, 2**62 + 1, 2**63 - 1, 2**64 - 1)
_WIDTHS = (1, 2, 4, 8)


def _one_mutation() -> st.SearchStrategy[Mutation]:
    position = st.integers(0, 1 << 16)
    return st.one_of(
        st.tuples(st.just("flip"), position, st.integers(0, 7)),
        st.tuples(st.just("set"), position, st.integers(0, 255)),
        st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=16)),
        st.tuples(st.just("delete"), position, st.integers(1, 16)),
        st.tuples(st.just("truncate"), position, st.none()),
        st.tuples(st.just("duplicate"), position, st.integers(1, 64)),
        st.tuples(st.just("int"), position,
                  st.tuples(st.sampled_from(_WIDTHS),
                            st.one_of(st.sampled_from(_INTERESTING), st.integers(0, 2**64 - 1)))),
    )


def mutations(max_ops: int = 4) -> st.SearchStrategy[list[Mutation]]:
    """Zero to ``max_ops`` mutations (zero keeps the valid input, which must then decode)."""
    return st.lists(_one_mutation(), max_size=max_ops)


def apply_mutations(data: bytes, ops: Sequence[Mutation]) -> bytes:
    """``data`` with ``ops`` applied in order."""
    buf = bytearray(data)
    for op, position, arg in ops:
        at = position % (len(buf) + 1)
        if op == "flip" and buf:
            buf[at % len(buf)] ^= 1 << arg
        elif op == "set" and buf:
            buf[at % len(buf)] = arg
        elif op == "insert":
            buf[at:at] = arg
        elif op == "delete":
            del buf[at : at + arg]
        elif op == "truncate":
            del buf[at:]
        elif op == "duplicate":
            buf[at:at] = buf[at : at + arg]
        elif op == "int":
            width, value = arg
            # big-endian like the wire; a value too wide for the field keeps its low bytes
            buf[at : at + width] = (value % (1 << (8 * width))).to_bytes(width, "big")
    return bytes(buf)


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[bytes], max_ops: int = 4) -> bytes:
    """A valid encoding drawn from ``valid`` with a few mutations applied."""
    return apply_mutations(draw(valid), draw(mutations(max_ops)))
