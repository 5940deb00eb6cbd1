"""The event loop that engine callbacks are scheduled on."""

import asyncio

__all__ = ["current_loop"]


def current_loop() -> asyncio.AbstractEventLoop:
    """The running loop, or (None running) the loop set for this thread.

    qasync steps tasks from Qt's event processing too, outside ``run_forever`` (a GUI shutting
    down does), and ``get_running_loop`` fails there although the task's loop is alive.
    """
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.get_event_loop_policy().get_event_loop()
