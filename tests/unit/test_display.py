"""Names from peers are shown escaped: on the terminal, in log lines and in the desktop app."""

from __future__ import annotations

import io
import logging

import pytest

from mfsync.cli.output import host_line, long_line, plain_line
from mfsync.display import EscapingFormatter, is_hidden, shown
from mfsync.engine.status import HostRef, PeerSnapshot, PeerState, RemoteFile

RLO_NAME = "invoice\u202efdp.exe"  # reads as "invoiceexe.pdf" when drawn raw


@pytest.mark.parametrize(("raw", "escaped"), [
    ("plain.txt", "plain.txt"),
    ("写真/旅行.jpg", "写真/旅行.jpg"),  # printable non-ASCII stays as it is
    ("caf\u00e9 menu.pdf", "caf\u00e9 menu.pdf"),
    (RLO_NAME, "invoice\\u202efdp.exe"),
    ("a\u2066b\u2069c", "a\\u2066b\\u2069c"),  # bidi isolates
    ("zero\u200bwidth", "zero\\u200bwidth"),
    ("bell\x07esc\x1b[2J", "bell\\x07esc\\x1b[2J"),
    ("c1\x9bx", "c1\\x9bx"),
    ("line\u2028para\u2029", "line\\u2028para\\u2029"),
    ("tag\U000e0041", "tag\\U000e0041"),
    ("lone\udcff", "lone\\udcff"),
])
def test_shown_escapes_what_acts_on_the_screen(raw: str, escaped: str) -> None:
    assert shown(raw) == escaped


def test_shown_output_has_nothing_hidden_left() -> None:
    every = "".join(chr(c) for c in range(0x110000))
    out = shown(every)
    assert not [ch for ch in out if is_hidden(ch)]
    assert len(out) > len(every)  # something was escaped, so the check above is not vacuous


def _file(path: str) -> RemoteFile:
    host = HostRef(key=b"\x01" * 32, address="10.0.0.1", port=8000)
    return RemoteFile(path=path, size=3, mtime_ns=0, content_id=b"\x02" * 32, hosts=(host,))


def test_cli_lines_escape_file_and_host_names() -> None:
    assert plain_line(_file(RLO_NAME)) == "invoice\\u202efdp.exe"
    assert long_line(_file(RLO_NAME)).endswith("invoice\\u202efdp.exe")
    peer = PeerSnapshot(key=b"\x01" * 32, announced_key=b"\x01" * 32, address="10.0.0.1",
                        port=8000, name="evil\u202ehost", state=PeerState.CONNECTED,
                        files=1, trusted=True, error="")
    line = host_line(peer, peer.name)
    assert "\u202e" not in line and "evil\\u202ehost" in line


def test_log_lines_escape_arguments_but_not_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(EscapingFormatter("%(message)s"))
    logger = logging.getLogger("mfsync.test.display")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("refused %s from %s", RLO_NAME, "host\x1b]0;pwned\x07")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed on %s", "x\u202ey")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "\u202e" not in text and "\x1b" not in text and "\x07" not in text
    assert "refused invoice\\u202efdp.exe from host\\x1b]0;pwned\\x07" in text
    assert "Traceback (most recent call last):\n" in text  # the traceback keeps its lines
