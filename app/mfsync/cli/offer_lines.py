"""What ``send`` and ``receive`` print: pure functions of names, keys and counts.

Every host is shown as people know it and by the start of its key (the key is what the files
are bound to; a name anyone can announce)::

    sending 3 files (12.4 MiB) to office-pc (key 9419A0C3B2F1…)
    waiting for office-pc to accept
    office-pc received and verified 3 files (12.4 MiB in 2.1 s, 5.9 MiB/s)
    office-pc (9419A0C3B2F1…) wants to send you 3 files (12.4 MiB): Photos
    received Photos: 3 files (12.4 MiB) from office-pc (9419A0C3B2F1…) into /home/me/Downloads
"""

from collections.abc import Sequence

from mfsync.cli.formatting import format_elapsed, format_eta, format_size, format_speed
from mfsync.crypto.keys import short_key
from mfsync.display import shown

__all__ = [
    "MAX_LISTED",
    "amount",
    "delivered_line",
    "host_text",
    "offer_question",
    "received_line",
    "send_progress_line",
    "sending_line",
]

#: Files of an offer listed under the question, at most (then "and N more").
MAX_LISTED = 10


def amount(files: int, nbytes: int) -> str:
    """``3 files (12.4 MiB)``, ``1 file (512 B)``."""
    return f"{files} file{'s' * (files != 1)} ({format_size(nbytes)})"


def host_text(name: str, key: bytes) -> str:
    """``office-pc (9419A0C3B2F1…)``, or the short key alone for a host without a name."""
    return f"{shown(name)} ({short_key(key)}…)" if name else f"{short_key(key)}…"


def sending_line(files: int, nbytes: int, name: str, key: bytes) -> str:
    """The line ``send`` starts with, naming the key the files go to."""
    to = f"{shown(name)} (key {short_key(key)}…)" if name else f"key {short_key(key)}…"
    return f"sending {amount(files, nbytes)} to {to}"


def delivered_line(name: str, key: bytes, files: int, nbytes: int | None = None,
                   seconds: float | None = None) -> str:
    """What ``send`` ends with when everything arrived; with ``nbytes`` and ``seconds`` (from
    the answer to the receipt), how much and how fast, as ``get``'s summary says it."""
    line = (f"{shown(name) or short_key(key) + '…'} received and verified "
            f"{files} file{'s' * (files != 1)}")
    if nbytes is not None and seconds is not None:
        speed = f", {format_speed(nbytes / seconds)}" if seconds > 0 else ""
        line += f" ({format_size(nbytes)} in {format_elapsed(seconds)}{speed})"
    return line


def offer_question(name: str, key: bytes, files: int, nbytes: int, label: str, *,
                   paths: Sequence[str] = ()) -> str:
    """What ``receive`` asks on a terminal (before ``[y/N]``): who, how much, what; with the
    first ``MAX_LISTED`` of ``paths`` (those the offer listed first) on lines of their own."""
    lines = [f"{host_text(name, key)} wants to send you {amount(files, nbytes)}: {shown(label)}"]
    listed = list(paths[:MAX_LISTED])
    lines += [f"  {shown(path)}" for path in listed]
    if files > len(listed) and listed:
        lines.append(f"  … and {files - len(listed)} more")
    lines.append("accept?")
    return "\n".join(lines)


def received_line(name: str, key: bytes, files: int, nbytes: int, *, label: str,
                  where: str) -> str:
    """One line per delivery that ``receive`` took (``where``: the folder it went into; a
    folder sent is a folder there, named after ``label`` unless that name was taken)."""
    return (f"received {shown(label)}: {amount(files, nbytes)} from {host_text(name, key)} "
            f"into {shown(where)}")


def send_progress_line(sent: int, total: int, speed: float | None = None,
                       seconds_left: float | None = None) -> str:
    """``  42% 120.0 MiB/285.3 MiB sent  48.1 MiB/s  0:03`` (what the receiver has pulled so
    far; speed and time left as the engine measured them, when it has)."""
    percent = 100 if total <= 0 else min(100, sent * 100 // total)
    line = f"{percent:>4}% {format_size(min(sent, total))}/{format_size(total)} sent"
    if speed is not None:
        line += f"  {format_speed(speed)}  {format_eta(seconds_left)}"
    return line
