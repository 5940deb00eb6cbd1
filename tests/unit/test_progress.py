"""The terminal progress display, driven by a fake clock and written to a StringIO.

Speeds and times left come from the engine's meter (``TransferRates``), fed the same fake clock:
the display only formats what the statuses carry."""

from __future__ import annotations

import io
import os
import re
import shutil

import pytest

from mfsync.cli.columns import shorten_middle, text_width
from mfsync.cli.formatting import format_duration, format_eta, format_size, format_speed
from mfsync.cli.progress import ProgressDisplay, should_enable
from mfsync.engine.transfer_rates import TransferRates
from mfsync.engine.transfer_status import TransferSnapshot, TransfersStatus, TransferState

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
CURSOR_UP = re.compile(r"\x1b\[(\d+)A")
ANSI = re.compile(r"\r|\x1b\[\d*[AJK]")


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now
        self.rates = TransferRates()

    def __call__(self) -> float:
        return self.now

    def stamp(self, *transfers: TransferSnapshot) -> TransfersStatus:
        """A status of ``transfers`` with the engine's speeds, measured now."""
        return self.rates.stamp(tuple(transfers), self.now)


def snap(
    path: str,
    size: int,
    done: int = 0,
    fetched: int | None = None,
    state: TransferState = TransferState.DOWNLOADING,
    *,
    started_at: float | None = 100.0,
) -> TransferSnapshot:
    return TransferSnapshot(
        path=path,
        size=size,
        done=done,
        fetched=done if fetched is None else fetched,
        state=state,
        source="10.0.0.2:4000",
        started_at=started_at,
    )


def status(*transfers: TransferSnapshot) -> TransfersStatus:
    return TransfersStatus(tuple(transfers))


def display(
    width: int | None = 120, enabled: bool = True
) -> tuple[ProgressDisplay, io.StringIO, FakeClock]:
    out = io.StringIO()
    clock = FakeClock()
    return ProgressDisplay(out, enabled=enabled, clock=clock, width=width), out, clock


def frames(text: str) -> list[list[str]]:
    """The frames written, each as its visible lines (escape sequences removed)."""
    result: list[list[str]] = []
    for chunk in re.split(r"(?=\r\x1b\[\d+A)", text):
        lines = [ANSI.sub("", line) for line in chunk.split("\n")]
        lines = [line for line in lines if line]
        if lines:
            result.append(lines)
    return result


def last_frame(out: io.StringIO) -> list[str]:
    return frames(out.getvalue())[-1]


# --- formatting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (1023, "1023 B"),
        (1024, "1 KiB"),
        (10 * KiB + 100, "10 KiB"),
        (int(1023.6 * KiB), "1.0 MiB"),  # rounding up crosses into the next unit
        (120 * MiB, "120.0 MiB"),
        (int(285.3 * MiB), "285.3 MiB"),
        (int(1.2 * GiB), "1.2 GiB"),
        (3 * 1024 * GiB, "3.0 TiB"),
        (5000 * 1024 * GiB, "5000.0 TiB"),
        (-5, "0 B"),
    ],
)
def test_format_size(n: int, text: str) -> None:
    assert format_size(n) == text


def test_format_speed() -> None:
    assert format_speed(500) == "500 B/s"
    assert format_speed(48.1 * MiB) == "48.1 MiB/s"
    assert format_speed(146.4 * MiB) == "146 MiB/s"
    assert format_speed(2.5 * GiB) == "2.5 GiB/s"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0:00"), (3, "0:03"), (59.9, "0:59"), (61, "1:01"), (3599, "59:59"),
     (3600, "1:00:00"), (3725, "1:02:05"), (36000, "10:00:00")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_eta() -> None:
    assert format_eta(None) == "--:--"
    assert format_eta(2.1) == "0:03"  # rounded up: "0:00" only once it is really done
    assert format_eta(0.0) == "0:00"
    assert format_eta(100 * 3600) == "100:00:00"
    assert format_eta(100 * 3600 + 1) == "--:--"  # too far off to mean anything


def test_text_width_counts_terminal_columns() -> None:
    assert text_width("abc") == 3
    assert text_width("日本") == 4
    assert text_width("e\u0301") == 1  # e + combining acute


def test_shorten_middle() -> None:
    assert shorten_middle("short", 10) == "short"
    cut = shorten_middle("a" * 30 + "/file.txt", 20)
    assert text_width(cut) == 20 and "…" in cut and cut.endswith("file.txt")
    cut = shorten_middle("日本語" * 20, 15)
    assert text_width(cut) <= 15 and "…" in cut
    # A combining mark must not be separated from its letter to decorate the ellipsis.
    cut = shorten_middle("x" * 20 + "e\u0301" * 10, 12)
    assert "…\u0301" not in cut and text_width(cut) <= 12
    assert shorten_middle("abcdef", 0) == ""
    assert shorten_middle("abcdef", 3, "...") == "..."


# --- drawing --------------------------------------------------------------------------------


def test_file_and_total_lines() -> None:
    d, out, _ = display(width=120)
    queued = snap("q", MiB, state=TransferState.QUEUED)
    d.update(status(snap("dir/file.bin", 100 * MiB, 42 * MiB), queued))
    lines = last_frame(out)
    assert len(lines) == 2  # queued files get no line
    assert re.fullmatch(
        r"\s+42% \[#{8}-{12}\]\s+42\.0 MiB/100\.0 MiB\s+--\s+--:--\s+dir/file\.bin", lines[0]
    )
    assert lines[1].startswith("Total 0/2 files  ")
    assert "42.0 MiB/101.0 MiB" in lines[1]
    assert not CURSOR_UP.search(out.getvalue())  # nothing above to erase the first time


@pytest.mark.parametrize(("fraction", "filled"), [(0.0, 0), (0.04, 0), (0.05, 1), (0.5, 10),
                                                  (0.999, 19), (1.0, 20)])
def test_bar_length(fraction: float, filled: int) -> None:
    d, out, _ = display(width=120)
    d.update(status(snap("f", 1000, int(fraction * 1000))))
    bar = re.search(r"\[([#-]+)\]", last_frame(out)[0])
    assert bar is not None
    assert len(bar.group(1)) == 20
    assert bar.group(1).count("#") == filled


def test_bar_shrinks_then_disappears_on_narrow_terminals() -> None:
    widths = {}
    for width in (120, 80, 50):
        d, out, _ = display(width=width)
        d.update(status(snap("some/file", 1000, 500)))
        bar = re.search(r"\[([#-]+)\]", last_frame(out)[0])
        widths[width] = len(bar.group(1)) if bar else 0
    assert widths[120] == 20
    assert 5 <= widths[80] < 20
    assert widths[50] == 0


@pytest.mark.parametrize("width", [20, 40, 60, 80, 132, 300])
def test_lines_never_exceed_width(width: int) -> None:
    long_ascii = "/".join(["directory"] * 40) + "/file.bin"
    long_cjk = "写真/" * 60 + "旅行の写真.jpg"
    accents = "e\u0301" * 200 + ".txt"
    d, out, clock = display(width=width)
    for i in range(3):
        clock.now += 1
        d.update(clock.stamp(
            snap(long_ascii, 300 * GiB, i * GiB, started_at=100.0),
            snap(long_cjk, 10 * GiB, i * MiB, started_at=101.0),
            snap(accents, 10, 5, started_at=102.0),
        ))
    d.close(status(snap(long_ascii, 300 * GiB, 300 * GiB, state=TransferState.DONE)))
    for frame in frames(out.getvalue()):
        for line in frame:
            if line.startswith("1 file,"):  # the summary is an ordinary line
                continue
            assert text_width(line) <= width, line
    if width >= 80:  # room enough for a recognisable path: its end is kept
        lines = frames(out.getvalue())[0]
        assert lines[0].endswith(".txt")
        assert "…" in lines[1] and lines[1].endswith("写真.jpg")
        assert "…" in lines[2] and lines[2].endswith("/file.bin")
    if width >= 132:
        assert lines[1].endswith("旅行の写真.jpg")


def test_control_characters_in_names_do_not_reach_the_terminal() -> None:
    d, out, _ = display()
    d.update(status(snap("evil\x1b[2J\x1b]0;title\x07\u202ename\n.txt", 10, 5)))
    text = out.getvalue()
    assert "\x1b[2J" not in text and "\x07" not in text and "\u202e" not in text
    assert "evil\\x1b[2J\\x1b]0;title\\x07\\u202ename\\x0a.txt" in last_frame(out)[0]


def test_ascii_only_stream_gets_ascii_only_output() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    clock = FakeClock()
    d = ProgressDisplay(stream, enabled=True, clock=clock, width=100)
    d.update(status(snap("caf\u00e9/" * 20 + "r\u00e9sum\u00e9.pdf", 10, 5)))
    d.message("done with caf\u00e9")
    stream.flush()
    text = raw.getvalue().decode("ascii")
    assert "..." in text and "r?sum?.pdf" in text and "done with caf?\n" in text


def test_at_most_eight_files_most_recent_first() -> None:
    d, out, _ = display(width=120)
    d.update(status(*(snap(f"file{i:02d}", 100, 50, started_at=100.0 + i) for i in range(11))))
    lines = last_frame(out)
    assert len(lines) == 10
    assert [line.split()[-1] for line in lines[:8]] == [f"file{i:02d}" for i in range(10, 2, -1)]
    assert lines[8] == "  … and 3 more"
    assert lines[9].startswith("Total 0/11 files")


def test_states_are_labelled() -> None:
    d, out, _ = display(width=120)
    d.update(status(
        snap("v", 100, 30, 0, TransferState.VERIFYING, started_at=101.0),
        snap("w", 100, 30, 30, TransferState.WAITING, started_at=100.0),
    ))
    verifying, waiting, _total = last_frame(out)
    assert "verifying" in verifying and "--:--" in verifying
    assert "waiting" in waiting and "--:--" in waiting


def test_terminal_size_limits_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "get_terminal_size", lambda *a: os.terminal_size((60, 6)))
    d, out, _ = display(width=None)
    d.update(status(*(snap(f"f{i}", 100, 50, started_at=100.0 + i) for i in range(10))))
    lines = last_frame(out)
    # Everything must stay reachable by moving the cursor up: at most rows - 1 lines.
    assert len(lines) == 5 and lines[-2] == "  … and 7 more"
    assert all(text_width(line) < 60 for line in lines)


# --- rate limiting and redraws --------------------------------------------------------------


def test_redraws_at_most_ten_times_a_second() -> None:
    d, out, clock = display()
    start = clock.now
    for i in range(100):
        clock.now = start + i * 0.00099
        d.update(status(snap("f", 1000, i)))
    assert len(frames(out.getvalue())) == 1
    clock.now = start + 0.1
    d.update(status(snap("f", 1000, 500)))
    assert len(frames(out.getvalue())) == 2
    assert "50%" in last_frame(out)[0]  # the latest snapshot, not a stale one


def test_float_error_in_the_clock_does_not_skip_a_redraw() -> None:
    d, out, clock = display()
    clock.now = 0.2
    d.update(status(snap("f", 1000, 1)))
    clock.now = 0.1 + 0.2  # 0.30000000000000004 - 0.2 < 0.1 in floating point
    d.update(status(snap("f", 1000, 2)))
    assert len(frames(out.getvalue())) == 2


def test_redraw_erases_exactly_the_lines_drawn_before() -> None:
    d, out, clock = display()
    four = status(*(snap(f"f{i}", 100, 10) for i in range(3)))
    two = status(snap("f0", 100, 20))
    d.update(four)
    first_len = len(out.getvalue())
    clock.now += 0.1
    d.update(two)
    second = out.getvalue()[first_len:]
    assert second.startswith("\r\x1b[4A")
    assert [int(n) for n in CURSOR_UP.findall(second)] == [4]
    assert "\x1b[J" in second  # the two lines the shorter frame no longer covers
    second_len = len(out.getvalue())
    clock.now += 0.1
    d.update(four)
    third = out.getvalue()[second_len:]
    assert [int(n) for n in CURSOR_UP.findall(third)] == [2]
    assert third.count("\n") == 4
    assert "\x1b[J" not in third
    # Each line is cleared before being written, so a shorter line leaves no leftovers.
    assert third.count("\x1b[K") == 4


# --- speed and ETA --------------------------------------------------------------------------


def test_speed_counts_only_fetched_bytes_of_a_resumed_file() -> None:
    d, out, clock = display()
    # Resumed: half the file was already on disk, nothing received yet.
    d.update(clock.stamp(snap("big", 200 * MiB, 100 * MiB, 0)))
    assert "--:--" in last_frame(out)[0]
    clock.now += 1.0
    d.update(clock.stamp(snap("big", 200 * MiB, 110 * MiB, 10 * MiB)))
    line, total = last_frame(out)
    assert "10.0 MiB/s" in line and "10.0 MiB/s" in total
    assert "0:09" in line  # 90 MiB left at 10 MiB/s
    assert "0:09" in total


def test_verifying_a_resumed_file_shows_no_speed() -> None:
    d, out, clock = display()
    d.update(clock.stamp(snap("big", 200 * MiB, 0, 0, TransferState.VERIFYING)))
    clock.now += 1.0
    d.update(clock.stamp(snap("big", 200 * MiB, 150 * MiB, 0, TransferState.VERIFYING)))
    _line, total = last_frame(out)
    assert "0 B/s" in total and "--:--" in total and "MiB/s" not in total


def test_speed_is_a_moving_average_over_about_three_seconds() -> None:
    d, out, clock = display()
    fetched = 0
    for _ in range(50):  # 5 s at 10 MiB/s
        d.update(clock.stamp(snap("f", 10 * GiB, fetched)))
        clock.now += 0.1
        fetched += MiB
    for _ in range(40):  # then 4 s at 1 MiB/s: the old speed must have left the average
        d.update(clock.stamp(snap("f", 10 * GiB, fetched)))
        clock.now += 0.1
        fetched += MiB // 10
    assert "1.0 MiB/s" in last_frame(out)[0]


def test_eta_from_remaining_bytes_and_speed() -> None:
    d, out, clock = display()
    queued = snap("b", 500 * MiB, 0, state=TransferState.QUEUED)
    d.update(clock.stamp(snap("a", 100 * MiB, 0), queued))
    clock.now += 2.0
    d.update(clock.stamp(snap("a", 100 * MiB, 40 * MiB), queued))
    line, total = last_frame(out)
    assert "20.0 MiB/s" in line
    assert re.search(r"MiB/s\s+0:03\s", line)  # 60 MiB left at 20 MiB/s
    assert total.rstrip().endswith("0:28")  # 560 MiB left (queued file included)


def test_stalled_transfer_has_no_eta() -> None:
    d, out, clock = display()
    d.update(clock.stamp(snap("a", 100 * MiB, 10 * MiB)))
    clock.now += 1.0
    d.update(clock.stamp(snap("a", 100 * MiB, 10 * MiB)))
    line, _total = last_frame(out)
    assert "0 B/s" in line and "--:--" in line


def test_display_shows_the_statuses_speeds_and_measures_nothing() -> None:
    d, out, clock = display()
    d.update(status(snap("a", 100 * MiB, 0)))
    clock.now += 1.0
    d.update(status(snap("a", 100 * MiB, 50 * MiB)))  # progress, but no speed in the status
    line, total = last_frame(out)
    assert re.search(r"\s--\s+--:--\s", line) and re.search(r"\s--\s+--:--$", total)
    clock.now += 1.0
    running = TransferSnapshot("a", 100 * MiB, 50 * MiB, 50 * MiB, TransferState.DOWNLOADING,
                               started_at=100.0, speed=5 * MiB)
    d.update(TransfersStatus((running,), speed=25 * MiB))
    line, total = last_frame(out)
    assert re.search(r" 5\.0 MiB/s\s+0:10 ", line)  # 50 MiB left at 5 MiB/s
    assert re.search(r" 25\.0 MiB/s\s+0:02$", total)


# --- message and close ----------------------------------------------------------------------


def test_message_is_printed_above_the_bars() -> None:
    d, out, clock = display()
    d.update(status(snap("a", 100, 10), snap("b", 100, 20)))
    before = len(out.getvalue())
    d.message("mfsync: peer 10.0.0.3 went away")
    after = out.getvalue()[before:]
    # The three bar lines are erased, then the message takes the place of the first.
    assert after.startswith("\r\x1b[3A\x1b[Jmfsync: peer 10.0.0.3 went away\n")
    assert after.index("went away") < after.index("Total")
    lines = [ANSI.sub("", line) for line in after.split("\n") if line]
    assert len(lines) == 4 and lines[-1].startswith("Total")
    # The next redraw moves up over the bars only, not over the message.
    clock.now += 0.1
    mark = len(out.getvalue())
    d.update(status(snap("a", 100, 50)))
    assert out.getvalue()[mark:].startswith("\r\x1b[3A")


def test_message_before_anything_is_drawn() -> None:
    d, out, _ = display()
    d.message("looking for hosts")
    assert out.getvalue() == "looking for hosts\n"


def test_message_redraws_the_latest_snapshot_even_if_rate_limited() -> None:
    d, out, _ = display()
    d.update(status(snap("a", 100, 10)))
    d.update(status(snap("a", 100, 70)))  # too soon: not drawn
    d.message("hello")
    assert "70%" in last_frame(out)[1]


def test_close_leaves_final_lines_and_summary() -> None:
    d, out, clock = display()
    d.update(status(snap("a", 100 * MiB, 10 * MiB)))
    clock.now += 2.0
    final = status(snap("a", 100 * MiB, 100 * MiB, state=TransferState.DONE))
    mark = len(out.getvalue())
    d.close(final)
    tail = out.getvalue()[mark:]
    assert tail.startswith("\r\x1b[2A")
    assert ANSI.sub("", tail).endswith("\n1 file, 100.0 MiB in 2.0 s (50.0 MiB/s)\n")
    lines = [ANSI.sub("", line) for line in tail.split("\n") if line]
    assert lines[0].startswith("Total 1/1 files  100% [####################]")
    # Nothing more after close.
    clock.now += 1.0
    d.update(status(snap("a", 100, 1)))
    d.close(final)
    assert out.getvalue()[mark:] == tail
    d.message("bye")
    assert out.getvalue()[mark:] == tail + "bye\n"


def test_disabled_display_prints_only_messages_and_the_summary() -> None:
    d, out, clock = display(enabled=False)
    assert not d.enabled
    d.update(status(snap("a", 100 * MiB, 10 * MiB, started_at=100.0)))
    clock.now += 0.5
    d.update(status(snap("a", 100 * MiB, 50 * MiB, started_at=100.0)))
    assert out.getvalue() == ""
    d.message("a line")
    assert out.getvalue() == "a line\n"
    clock.now = 104.0
    d.close(status(snap("a", 100 * MiB, 100 * MiB, state=TransferState.DONE, started_at=100.0)))
    assert out.getvalue() == "a line\n1 file, 100.0 MiB in 4.0 s (25.0 MiB/s)\n"
    assert "\x1b" not in out.getvalue()


def test_summary_line() -> None:
    d, _, clock = display()
    twelve = [snap(f"f{i}", 100 * MiB, 100 * MiB, state=TransferState.DONE, started_at=100.0)
              for i in range(12)]
    clock.now = 108.4
    assert d.summary(status(*twelve)) == "12 files, 1.2 GiB in 8.4 s (142 MiB/s)"


def test_summary_counts_resumed_skipped_failed_and_unfinished() -> None:
    d, _, clock = display()
    clock.now = 100.0 + 125.0
    text = d.summary(status(
        snap("resumed", 100 * MiB, 100 * MiB, 25 * MiB, TransferState.DONE),
        snap("same", 5 * MiB, 0, 0, TransferState.SKIPPED),
        TransferSnapshot("bad", 10, 0, 0, TransferState.FAILED, error="hash mismatch"),
        snap("later", 10, 0, 0, TransferState.QUEUED, started_at=None),
    ))
    assert text == (
        "1 file, 100.0 MiB (25.0 MiB received) in 2:05 (205 KiB/s),"
        " 1 skipped, 1 failed, 1 not finished"
    )


def test_summary_of_nothing() -> None:
    d, _, clock = display()
    clock.now += 0.25
    assert d.summary(status()) == "0 files, 0 B in 0.2 s"


def test_total_line_leaves_skipped_files_out() -> None:
    d, out, _ = display()
    d.update(status(
        snap("a", 100, 100, state=TransferState.DONE),
        snap("b", 100, 50),
        snap("s", 1000, 0, 0, TransferState.SKIPPED),
        snap("x", 100, 0, 0, TransferState.FAILED),
    ))
    total = last_frame(out)[-1]
    assert total.startswith("Total 1/3 files, 1 failed   50% ")
    assert "150 B/300 B" in total


# --- enabling and snapshots -----------------------------------------------------------------


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_should_enable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    assert not should_enable(io.StringIO(), 0)
    assert should_enable(FakeTty(), 0)
    assert not should_enable(FakeTty(), 1)
    monkeypatch.setenv("TERM", "dumb")
    assert not should_enable(FakeTty(), 0)
    closed = io.StringIO()
    closed.close()
    assert not should_enable(closed, 0)


def test_transfers_status_properties() -> None:
    s = status(
        snap("q", 10, 0, 0, TransferState.QUEUED),
        snap("v", 20, 5, 0, TransferState.VERIFYING),
        snap("d", 30, 10, 4, TransferState.DOWNLOADING),
        snap("w", 40, 1, 1, TransferState.WAITING),
        snap("ok", 50, 50, 50, TransferState.DONE),
        snap("ko", 60, 3, 3, TransferState.FAILED),
        snap("sk", 70, 0, 0, TransferState.SKIPPED),
    )
    assert (s.total_size, s.total_done, s.total_fetched) == (280, 69, 58)
    assert [t.path for t in s.active] == ["v", "d", "w"]
    assert s.finished == 1
    assert [t.path for t in s.failed] == ["ko"]
    assert TransfersStatus().active == () and TransfersStatus().total_size == 0
