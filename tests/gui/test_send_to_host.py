"""Sending files to a host from the app, and answering offers made to it (issue 16): two real
services on loopback (the app and another), the desktop's notification service faked
(``FakeNotifications``: it records each notification and clicks its buttons)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import shiboken6
from harness import Rig, loopback_options
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from mfsync.config import Config
from mfsync.crypto.keys import Identity
from mfsync.engine.inbox import IncomingState
from mfsync.engine.outbox import OutgoingState, OutgoingStatus
from mfsync.engine.service import Service
from mfsync.gui.app import DesktopApp
from mfsync.gui.offer_prompt import ACCEPT, DECLINE, OPEN, OfferDialog
from mfsync.gui.send_files import HostPickerDialog
from mfsync.gui.transfers_model import SEND_DIRECTION, TransfersModel
from waiting import wait_for

HOSTS_TAB = 3
StartOther = Callable[..., Any]


@pytest.fixture
async def other(rig: Rig, tmp_path: Path) -> AsyncIterator[StartOther]:
    """Start another host (a headless ``Service``, as the app's) on the rig's loopback
    discovery; its accepted offers go to ``tmp_path/<name>-dest``."""
    services: list[Service] = []

    async def start(name: str, **config: Any) -> Service:
        service = Service(loopback_options(rig.udp_port, name=name,
                                           identity=Identity.generate()), Config(**config))
        service.offers.set_destination(tmp_path / f"{name}-dest")
        services.append(service)
        await service.start()
        return service

    yield start
    for service in reversed(services):
        await service.stop()


def _key(service: Service) -> bytes:
    return service.node.identity.public_key


def _address(service: Service) -> tuple[str, int]:
    port = service.status.node.tcp_port
    assert port is not None
    return ("127.0.0.1", port)


def _file(tmp_path: Path, name: str = "IMG_0042.jpg", size: int = 300_000) -> Path:
    path = tmp_path / "out" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


def _gone(widget: Any) -> bool:
    """Whether ``widget`` was closed (and deleted, as the dialogs delete themselves)."""
    return not shiboken6.isValid(widget) or not widget.isVisible()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cells(model: TransfersModel, row: int) -> list[str]:
    return [model.data(model.index(row, column)) for column in range(model.columnCount())]


async def _final(service: Service, state: OutgoingState) -> OutgoingStatus:
    return await wait_for(lambda: next((o for o in service.status.outgoing if o.state is state),
                                       None), 30.0, what=f"an offer {state.value}",
                          detail=lambda: service.status.outgoing)


def _drop(widget: Any, point: QPointF, paths: list[Path]) -> tuple[bool, bool]:
    """Drag ``paths`` onto ``widget`` at ``point`` and drop them, as a file manager does;
    whether the enter and the drop were accepted."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(point.toPoint(), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    drop = QDropEvent(point, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    return enter.isAccepted(), drop.isAccepted()


async def _host_row_point(app: DesktopApp, key: bytes) -> QPointF:
    """Where the Hosts table shows the host of ``key`` (viewport coordinates)."""
    window = app.window
    assert window is not None
    window.tabs.setCurrentIndex(HOSTS_TAB)
    page = window.hosts_page

    def row() -> int | None:
        for number in range(page.proxy.rowCount()):
            source = page.proxy.mapToSource(page.proxy.index(number, 0)).row()
            if page.model.peer_key(source, app.service.status) == key:
                return number
        return None

    number = await wait_for(lambda: row() is not None, 15.0, what="the host's row") and row()
    assert number is not None
    return QPointF(page.view.visualRect(page.proxy.index(number, 0)).center())


async def test_files_dropped_on_a_host_row_are_sent_and_the_row_says_delivered(
        rig: Rig, other: StartOther, tmp_path: Path) -> None:
    app = await rig.start_app()
    office = await other("office-pc", accept_from_anyone=True)
    sent = _file(tmp_path)
    point = await _host_row_point(app, _key(office))
    assert app.window is not None
    viewport = app.window.hosts_page.view.viewport()
    # below the rows: no host there, the drop is not taken
    assert _drop(viewport, QPointF(point.x(), point.y() + 400), [sent]) == (True, False)
    assert app.service.status.outgoing == ()
    assert _drop(viewport, point, [sent]) == (True, True)
    delivered = await _final(app.service, OutgoingState.DELIVERED)
    assert (delivered.to_key, delivered.label, delivered.files) == (_key(office), sent.name, 1)
    received = tmp_path / "office-pc-dest" / sent.name
    assert _digest(received) == _digest(sent)
    model = app.window.transfers_model
    row = model.row_of(delivered.offer)
    await wait_for(lambda: _cells(model, row)[6] == "delivered to office-pc", what="the row")
    name, direction, progress, _speed, _left, host, _state = _cells(model, row)
    assert (name, direction, progress, host) == (sent.name, SEND_DIRECTION, "100%", "office-pc")
    await wait_for(lambda: "sent" in rig.sink.kinds(), what="the sender's notification")
    assert [s[:2] for s in rig.sink.shown if s[2] == "sent"] == [
        ("Sent to office-pc", f"{sent.name}: received and verified")]


async def _offer_to_app(rig: Rig, other: StartOther, tmp_path: Path
                        ) -> tuple[DesktopApp, Service, Path]:
    app = await rig.start_app()
    sender = await other("laptop-anna")
    sent = _file(tmp_path)
    await wait_for(lambda: any(_key(sender) in (p.key, p.announced_key) and p.name
                               for p in app.service.status.node.peers), 15.0,
                   what="the app to see the sender")  # (so that it knows its name)
    sender.offers.send([sent], app.service.node.identity.public_key, _address(app.service))
    await wait_for(lambda: any(o.state is OutgoingState.WAITING for o in sender.status.outgoing),
                   15.0, what="the offer waiting for an answer")
    return app, sender, sent


async def test_accept_on_the_notification_downloads_the_files(
        rig: Rig, other: StartOther, tmp_path: Path) -> None:
    app, sender, sent = await _offer_to_app(rig, other, tmp_path)
    await wait_for(lambda: rig.notifications.shown, what="the notification")
    (number, summary, body, actions), = rig.notifications.shown
    assert summary == "laptop-anna wants to send you 1 file"
    assert body.startswith(f"{sent.name} (300.0 kB): {sent.name}")
    assert [key for key, _label in actions] == [ACCEPT, DECLINE, OPEN]
    assert app.window is not None
    panel = app.window.transfers_page.offers_panel  # the window asks too
    await wait_for(lambda: len(panel.rows) == 1, what="the offer's row in the window")
    assert panel.rows[0].label.text() == "laptop-anna wants to send you 1 file (300.0 kB)"
    rig.notifications.invoke(number + 100, ACCEPT)  # someone else's notification: nothing
    assert app.service.status.incoming[0].state is IncomingState.PENDING
    rig.notifications.invoke(number, ACCEPT)
    await _final(sender, OutgoingState.DELIVERED)
    received = app.service.offers.destination() / sent.name
    assert _digest(received) == _digest(sent)
    await wait_for(lambda: rig.notifications.closed == [number] and not panel.rows,
                   what="the notification and the row gone once answered")
    await wait_for(lambda: "download" in rig.sink.kinds(), what="the download notification")


async def test_decline_on_the_notification_reaches_the_sender(
        rig: Rig, other: StartOther, tmp_path: Path) -> None:
    app, sender, sent = await _offer_to_app(rig, other, tmp_path)
    await wait_for(lambda: rig.notifications.shown, what="the notification")
    rig.notifications.invoke(rig.notifications.shown[0][0], DECLINE)
    declined = await _final(sender, OutgoingState.DECLINED)
    model = TransfersModel()  # the sender's Transfers tab
    model.update(sender.status)
    name, direction, _progress, _speed, _left, host, state = _cells(
        model, model.row_of(declined.offer))
    assert (name, direction, host) == (sent.name, SEND_DIRECTION, app.service.name)
    assert state == "declined"
    assert not (app.service.offers.destination() / sent.name).exists()


async def test_without_notification_buttons_a_dialog_lists_the_files(
        rig: Rig, other: StartOther, tmp_path: Path) -> None:
    rig.notifications.actions = False
    app, sender, sent = await _offer_to_app(rig, other, tmp_path)
    prompt = app.offer_prompt
    assert prompt is not None
    dialog: OfferDialog = await wait_for(lambda: next(iter(prompt.dialogs.values()), None),
                                         what="the dialog")
    assert rig.notifications.shown == []
    assert dialog.isVisible()
    assert dialog.files.item(0).text().startswith(sent.name)
    assert dialog.question.text().startswith("laptop-anna wants to send you 1 file (300.0 kB)")
    dialog.accept_button.click()
    await _final(sender, OutgoingState.DELIVERED)
    assert _digest(app.service.offers.destination() / sent.name) == _digest(sent)
    await wait_for(lambda: _gone(dialog) and prompt.dialogs == {}, what="the dialog closed")


async def test_the_window_opens_the_dialog_and_a_sender_cancel_closes_it(
        rig: Rig, other: StartOther, tmp_path: Path) -> None:
    app, sender, _sent = await _offer_to_app(rig, other, tmp_path)
    assert app.window is not None and app.offer_prompt is not None
    panel = app.window.transfers_page.offers_panel
    await wait_for(lambda: len(panel.rows) == 1, what="the offer's row in the window")
    panel.rows[0].show_button.click()
    dialog = next(iter(app.offer_prompt.dialogs.values()))
    assert dialog.isVisible()
    sender.offers.cancel(sender.status.outgoing[0].offer)
    await wait_for(lambda: _gone(dialog) and not panel.rows,
                   what="the dialog and the row gone")
    await wait_for(lambda: rig.notifications.closed, what="the notification taken away")


async def test_send_files_from_the_tray_and_from_a_host_menu(
        rig: Rig, other: StartOther, tmp_path: Path) -> None:
    app = await rig.start_app()
    office = await other("office-pc", accept_from_anyone=True)
    first, second = _file(tmp_path, "a.bin", 1000), _file(tmp_path, "b.bin", 2000)
    point = await _host_row_point(app, _key(office))
    assert app.tray is not None and app.window is not None
    rig.chosen_files.append([first])
    app.tray.rebuild_menu()
    send = next(a for a in app.tray.menu.actions() if a.text() == "Send files…")
    send.trigger()
    picker = app.dialog
    assert isinstance(picker, HostPickerDialog)
    assert picker.hosts.count() == 1 and picker.hosts.item(0).text().startswith("office-pc")
    picker.choose(_key(office))
    picker.send_button.click()
    await wait_for(lambda: (tmp_path / "office-pc-dest" / "a.bin").exists(), 30.0,
                   what="the file sent from the tray")
    rig.chosen_files.append([second])
    menu = app.window.hosts_page.show_menu(point.toPoint())
    assert menu is not None
    menu.hide()
    next(a for a in menu.actions() if a.text() == "Send files…").trigger()
    await wait_for(lambda: (tmp_path / "office-pc-dest" / "b.bin").exists(), 30.0,
                   what="the file sent from the host's menu")
    await wait_for(lambda: [o.state for o in app.service.status.outgoing]
                   == [OutgoingState.DELIVERED] * 2, what="two offers delivered")
