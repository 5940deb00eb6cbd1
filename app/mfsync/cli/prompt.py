"""Yes-or-no questions on the terminal, asked without blocking the event loop.

How it works: a :class:`LineSource` reads its stream in a daemon thread and hands each line to
the event loop (so a question never blocks the node, and a thread stuck in ``readline`` never
holds up the exit: it is a daemon). :func:`ask` prints a question, forgets whatever was typed
before it (an early Enter must not answer a question not yet shown), and waits for an answer
until a deadline: ``y``/``yes`` is yes, anything else (an empty line, the end of the input) is
no, and no answer in time is None, said so on the terminal.
"""

import asyncio
import contextlib
import threading
from typing import TextIO

__all__ = ["LineSource", "ask"]

#: Answers that mean yes (compared without regard to case); anything else means no.
YES = frozenset({"y", "yes"})


class LineSource:
    """The lines of a text stream (a terminal's stdin), for coroutines of one event loop."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ended = False

    def _start(self) -> None:
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(target=self._pump, name="stdin lines", daemon=True)
            self._thread.start()

    def _pump(self) -> None:
        assert self._loop is not None
        try:
            for line in self._stream:
                self._put(line.rstrip("\r\n"))
        except (OSError, ValueError):  # closed under us
            pass
        self._put(None)

    def _put(self, line: str | None) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody asks any more
            self._loop.call_soon_threadsafe(self._queue.put_nowait, line)

    def discard_pending(self) -> None:
        """Forget the lines typed so far and not yet read."""
        self._start()
        while not self._queue.empty():
            if self._queue.get_nowait() is None:
                self._ended = True

    async def next_line(self, timeout: float) -> str | None:
        """The next line (without its end), or None at the end of the stream; ``TimeoutError``
        when none comes within ``timeout`` seconds."""
        self._start()
        if self._ended:
            return None
        line = await asyncio.wait_for(self._queue.get(), max(timeout, 0.0))
        if line is None:
            self._ended = True
        return line


async def ask(question: str, lines: LineSource, out: TextIO, *, timeout: float) -> bool | None:
    """Ask ``question`` on ``out`` (``[y/N]`` added) and wait at most ``timeout`` seconds for
    the answer in ``lines``: True for yes, False for no (or the end of the input), None when
    the time ran out (a line on ``out`` says so)."""
    lines.discard_pending()
    out.write(f"{question} [y/N] ")
    out.flush()
    try:
        answer = await lines.next_line(timeout)
    except TimeoutError:
        out.write("\n(no answer in time)\n")
        out.flush()
        return None
    if answer is None:
        out.write("\n")
        out.flush()
        return False
    return answer.strip().casefold() in YES
