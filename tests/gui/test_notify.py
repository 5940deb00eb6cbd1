"""Batched notifications with a fake clock and a recording sink."""

import asyncio
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mfsync.config import Config
from mfsync.gui.notify import KINDS, Notifier, enabled_from_config

KEY = "AB" * 32


@dataclass
class Shown:
    title: str
    text: str
    kind: str
    target: str | None


class Sink:
    def __init__(self) -> None:
        self.shown: list[Shown] = []

    def show(self, title: str, text: str, kind: str, target: str | None) -> None:
        self.shown.append(Shown(title, text, kind, target))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def notifier(sink: Sink, clock: Clock) -> Notifier:
    return Notifier(sink, clock=clock, window=2.0)


DL = Path("/home/u/Downloads/mfsync")


def test_nothing_pending_at_first(notifier: Notifier, sink: Sink) -> None:
    assert notifier.pending_until() is None
    assert notifier.flush() == 0
    assert sink.shown == []


def test_one_file_names_the_file_and_opens_it(
    notifier: Notifier, sink: Sink, clock: Clock
) -> None:
    notifier.downloaded("docs/report.pdf", DL / "docs" / "report.pdf", "laptop-anna")
    assert notifier.pending_until() == 102.0
    clock.now = 101.9
    assert notifier.flush() == 0
    clock.now = 102.0
    assert notifier.flush() == 1
    assert sink.shown == [Shown("Download finished", "report.pdf from laptop-anna", "download",
                                str(DL / "docs" / "report.pdf"))]
    assert notifier.pending_until() is None
    assert notifier.flush() == 0


def test_many_files_are_one_notification_opening_their_folder(
    notifier: Notifier, sink: Sink, clock: Clock
) -> None:
    for i in range(12):
        notifier.downloaded(f"photos/{i}.jpg", DL / "photos" / f"{i}.jpg", "laptop-anna")
        clock.now += 0.1
    # the window restarts with every event
    assert notifier.pending_until() == pytest.approx(100.0 + 1.1 + 2.0)
    notifier.flush(clock.now + 2.0)
    assert sink.shown == [Shown("Downloads finished", "12 files from laptop-anna", "download",
                                str(DL / "photos"))]


def test_common_folder_of_nested_files(notifier: Notifier, sink: Sink) -> None:
    notifier.downloaded("a/x.txt", DL / "a" / "x.txt", "desk")
    notifier.downloaded("a/b/y.txt", DL / "a" / "b" / "y.txt", "desk")
    notifier.downloaded("c.txt", DL / "c.txt", "laptop-anna")
    notifier.flush(math.inf)
    assert sink.shown == [Shown("Downloads finished", "3 files from desk and laptop-anna",
                                "download", str(DL))]


def test_many_hosts_are_summarised(notifier: Notifier, sink: Sink) -> None:
    for i, host in enumerate(("a", "b", "c", "d", "a", "")):
        notifier.downloaded(f"{i}.txt", DL / f"{i}.txt", host)
    notifier.flush(math.inf)
    assert sink.shown[0].text == "6 files from a, b and 3 more"  # c, d and "another computer"


def test_the_same_file_twice_counts_once(notifier: Notifier, sink: Sink) -> None:
    notifier.downloaded("r.pdf", DL / "r.pdf", "a")
    notifier.downloaded("r.pdf", DL / "r.pdf", "b")
    notifier.flush(math.inf)
    assert sink.shown == [Shown("Download finished", "r.pdf from b", "download",
                                str(DL / "r.pdf"))]


def test_a_steady_stream_is_shown_after_the_longest_delay(
    notifier: Notifier, sink: Sink, clock: Clock
) -> None:
    shown_at = []
    for step in range(300):  # one file every half second for 150 s
        clock.now = 100.0 + step * 0.5
        notifier.flush()
        if sink.shown and len(shown_at) < len(sink.shown):
            shown_at.append(clock.now)
        notifier.downloaded(f"f{step}", DL / f"f{step}", "desk")
    assert shown_at[:3] == [110.0, 120.0, 130.0]  # every max_delay (5 windows), not every file
    assert all(s.text == "20 files from desk" for s in sink.shown)


def test_failures_are_batched_apart_from_downloads(
    notifier: Notifier, sink: Sink, clock: Clock
) -> None:
    notifier.downloaded("ok.txt", DL / "ok.txt", "desk")
    notifier.failed("big.iso", "not enough free space")
    assert notifier.flush(clock.now + 2) == 2
    assert sink.shown[1] == Shown("Download failed", "big.iso: not enough free space",
                                  "failure", None)
    notifier.failed("a/x.bin", "no host has it")
    notifier.failed("b/y.bin", "corrupt data from desk")
    notifier.flush(math.inf)
    assert sink.shown[2] == Shown("2 downloads failed", "y.bin: corrupt data from desk "
                                  "(and 1 more)", "failure", None)


def test_refused_once_then_quiet_for_a_while(
    notifier: Notifier, sink: Sink, clock: Clock
) -> None:
    notifier.refused("laptop-x", KEY)
    notifier.flush(math.inf)
    assert sink.shown == [Shown("Refused an untrusted computer",
                                "laptop-x (key ABABABABABAB…) is not in your trusted keys",
                                "refused", None)]
    clock.now += 60
    notifier.refused("laptop-x", KEY)  # it knocks again at its next announcement
    assert notifier.pending_until() is None
    clock.now += 600
    notifier.refused("laptop-x", KEY)
    notifier.flush(math.inf)
    assert len(sink.shown) == 2


def test_several_refused_computers(notifier: Notifier, sink: Sink) -> None:
    notifier.refused("10.0.0.5", "AA" * 32)
    notifier.refused("laptop-x", "BB" * 32)
    notifier.flush(math.inf)
    assert sink.shown == [Shown("Refused 2 untrusted computers",
                                "10.0.0.5 and laptop-x are not in your trusted keys",
                                "refused", None)]


def test_switched_off_kinds_are_dropped(notifier: Notifier, sink: Sink) -> None:
    notifier.enabled["download"] = False
    notifier.enabled["refused"] = False
    notifier.downloaded("a", DL / "a", "h")
    notifier.refused("h", KEY)
    notifier.failed("b", "boom")
    assert notifier.flush(math.inf) == 1
    assert [s.kind for s in sink.shown] == ["failure"]
    # a kind switched off while its batch waits is dropped too
    notifier.failed("c", "boom")
    notifier.enabled["failure"] = False
    assert notifier.flush(math.inf) == 0
    assert notifier.pending_until() is None
    # switching refusals back on: the key dropped before was never shown, so it can be now
    notifier.enabled["refused"] = True
    notifier.refused("h", KEY)
    assert notifier.flush(math.inf) == 1


def test_pending_until_is_the_earliest_batch(notifier: Notifier, clock: Clock) -> None:
    notifier.failed("x", "e")
    clock.now += 1
    notifier.downloaded("a", DL / "a", "h")
    assert notifier.pending_until() == 102.0
    notifier.flush(102.0)
    assert notifier.pending_until() == 103.0


def test_names_from_peers_cannot_disguise_themselves(notifier: Notifier, sink: Sink) -> None:
    notifier.downloaded("photo\u202egpj.exe", DL / "photo\u202egpj.exe", "evil\x1b[2Jhost")
    notifier.flush(math.inf)
    assert sink.shown[0].text == "photo\\u202egpj.exe from evil\\x1b[2Jhost"
    notifier.refused("x" * 500, KEY)
    notifier.flush(math.inf)
    assert len(sink.shown[1].text) < 120


def test_enabled_from_config() -> None:
    config = Config(notify_downloads=False, notify_refused=False)
    assert enabled_from_config(config) == {"download": False, "failure": True, "refused": False,
                                           "invitation": True, "sent": False}
    assert enabled_from_config(Config(notify_invitations=False))["invitation"] is False
    assert set(enabled_from_config(Config())) == set(KINDS)


async def test_a_click_on_a_notification_opens_its_folder_off_the_gui_thread(
        qapp: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mfsync.gui.tray import Tray, TrayNotificationSink  # noqa: PLC0415 - needs the QApplication

    opened: list[str] = []
    windows: list[str] = []
    tray = Tray(open_url=lambda url: opened.append(url.toLocalFile()))
    sink = TrayNotificationSink(tray, lambda: windows.append("window"))
    folder = tmp_path / "got"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    threads: list[int] = []
    real_is_dir = Path.is_dir

    def is_dir(self: Path) -> bool:
        threads.append(threading.get_ident())
        return real_is_dir(self)

    monkeypatch.setattr(Path, "is_dir", is_dir)
    sink.show("Download finished", "a.txt", "download", str(folder / "a.txt"))
    task = sink.clicked()
    assert task is not None and opened == []  # not yet: the stat runs in a worker
    await task
    await asyncio.sleep(0)
    assert opened == [str(folder)]
    sink.show("Downloads finished", "2 files", "download", str(folder))
    await sink.clicked()  # type: ignore[misc]
    await asyncio.sleep(0)
    assert opened == [str(folder), str(folder)]
    assert threads and threading.get_ident() not in threads
    sink.show("Refused", "x", "refused", None)
    assert sink.clicked() is None
    assert windows == ["window"]


def test_sends_that_ended_one_or_several(notifier: Notifier, sink: Sink, clock: Clock) -> None:
    notifier.sent("k3x9-pq2m", "Photos", "office-pc", "delivered to office-pc", True)
    notifier.flush(math.inf)
    assert sink.shown[-1] == Shown("Sent to office-pc", "Photos: received and verified", "sent",
                                   None)
    notifier.sent("k3x9-pq2m", "a.jpg", "office-pc", "declined", False)
    notifier.flush(math.inf)
    assert sink.shown[-1] == Shown("Not sent to office-pc", "a.jpg: declined", "sent", None)
    notifier.sent("aaaa-aaa1", "a.jpg", "office-pc", "delivered to office-pc", True)
    notifier.sent("aaaa-aaa2", "b.jpg", "laptop\u202eanna", "timed out: no answer", False)
    notifier.flush(math.inf)
    assert sink.shown[-1] == Shown("1 of 2 sends delivered",
                                   "to office-pc and laptop\\u202eanna", "sent", None)
