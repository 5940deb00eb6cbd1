"""Step-wise jobs: generators that pause now and then, run to their end with or without letting
the event loop in between.

A job over many items (decoding a large index chunk, checking a peer's names, merging file
lists) is written once as a generator that yields at each pause and returns its result. The
event loop runs it with :func:`in_steps`, so that no single callback holds the loop for long;
code that is off the loop (or in a hurry) runs it with :func:`to_end`.
"""

import asyncio
from collections.abc import Generator
from typing import TypeVar

__all__ = ["Steps", "in_steps", "to_end"]

T = TypeVar("T")
#: A step-wise job: yields at each pause, returns its result.
Steps = Generator[None, None, T]


def to_end(steps: Steps[T]) -> T:
    """Run a step-wise job without pausing; its result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: T = done.value
            return result


async def in_steps(steps: Steps[T]) -> T:
    """Run a step-wise job, letting the event loop run at each of its pauses; its result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: T = done.value
            return result
        await asyncio.sleep(0)
