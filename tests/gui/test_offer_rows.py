"""How offers look in the app: the question about an offer made to us (``offer_text``) and the
Transfers rows of offers we send (``TransfersModel``), from hand-made snapshots."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from mfsync.engine.folder_names import FolderId
from mfsync.engine.inbox import IncomingOffer
from mfsync.engine.outbox import OutgoingState, OutgoingStatus
from mfsync.engine.service import ServiceStatus
from mfsync.engine.status import NodeStatus
from mfsync.engine.transfer_status import TransfersStatus
from mfsync.gui.offer_prompt import offer_text
from mfsync.gui.transfers_model import SEND_DIRECTION, TransfersModel
from mfsync.gui.tray import TrayState, tray_state

KEY = bytes(range(32))
OFFER = FolderId.parse("k3x9-pq2m")
MB = 1000 * 1000


def _incoming(label: str, files: int, name: str = "office-pc") -> IncomingOffer:
    return IncomingOffer(OFFER, KEY, name, "127.0.0.1", 8000, label, files, 12_400_000,
                         (("a.jpg", 100),), expires_at=0.0)


def test_the_question_names_a_folder_but_not_a_count_of_loose_files() -> None:
    assert offer_text(_incoming("Photos", 3)) == (
        "office-pc wants to send you 'Photos': 3 files (12.4 MB)")
    assert offer_text(_incoming("3 files", 3)) == "office-pc wants to send you 3 files (12.4 MB)"
    assert offer_text(_incoming("a.jpg", 1)) == "office-pc wants to send you 1 file (12.4 MB)"
    # no name: the short key
    assert offer_text(_incoming("x", 1, name="")).startswith("000102030405 wants")


def test_names_from_the_sender_are_escaped() -> None:
    text = offer_text(_incoming("gpj.\u202eexe", 2, name="anna\x1b[2J"))
    assert "\u202e" not in text and "\x1b" not in text
    assert text == r"anna\x1b[2J wants to send you 'gpj.\u202eexe': 2 files (12.4 MB)"


def _status(*outgoing: OutgoingStatus) -> ServiceStatus:
    return ServiceStatus(node=NodeStatus(), transfers=TransfersStatus(), folders=(),
                         own_key=b"k" * 32, trusted_keys=frozenset(), key_names=(),
                         outgoing=outgoing)


def _cells(model: TransfersModel, row: int) -> list[str]:
    return [model.data(model.index(row, column)) for column in range(model.columnCount())]


def test_outgoing_rows_say_where_each_offer_stands(qapp: QApplication) -> None:
    ids = [FolderId.parse(f"aaaa-aaa{n}") for n in range(4)]
    base = OutgoingStatus(ids[0], KEY, "office-pc", "Photos", 3, 100 * MB)
    model = TransfersModel()
    model.update(_status(
        base,
        OutgoingStatus(ids[1], KEY, "", "IMG_0042.jpg", 1, 100 * MB,
                       OutgoingState.WAITING),
        OutgoingStatus(ids[2], KEY, "office-pc", "Photos", 3, 100 * MB, OutgoingState.SENDING,
                       bytes_sent=20 * MB, speed=10 * MB),
        OutgoingStatus(ids[3], KEY, "office-pc", "Photos", 3, 100 * MB,
                       OutgoingState.DECLINED, reason="declined"),
    ))
    staging, waiting, sending, declined = (_cells(model, model.row_of(i)) for i in ids)
    assert staging == ["Photos", SEND_DIRECTION, "0%", "", "", "office-pc", "staging"]
    assert waiting[5:] == ["000102030405", "waiting for 000102030405 to accept"]
    assert sending == ["Photos", SEND_DIRECTION, "20%", "10.0 MB/s", "8 s", "office-pc",
                       "sending to office-pc"]
    assert declined[2:] == ["0%", "", "", "office-pc", "declined"]
    assert model.outgoing(ids[2]) is not None and model.snapshot(ids[2]) is None
    assert model.speed_of(ids[2]) == 10 * MB
    # a file fetched again counts again: the bar stops at the end; delivered is full
    model.update(_status(OutgoingStatus(ids[0], KEY, "office-pc", "Photos", 3, 100 * MB,
                                        OutgoingState.SENDING, bytes_sent=130 * MB,
                                        speed=1.0)))
    assert _cells(model, 0)[2] == "100%"
    model.update(_status(OutgoingStatus(ids[0], KEY, "office-pc", "Photos", 3, 100 * MB,
                                        OutgoingState.DELIVERED, bytes_sent=90 * MB)))
    assert _cells(model, 0)[2:] == ["100%", "", "", "office-pc", "delivered to office-pc"]


def test_the_tray_shows_a_send_under_way_as_a_transfer() -> None:
    waiting = OutgoingStatus(OFFER, KEY, "office-pc", "a", 1, MB, OutgoingState.WAITING)
    assert tray_state(_status(waiting)) == TrayState.IDLE
    sending = OutgoingStatus(OFFER, KEY, "office-pc", "a", 1, MB, OutgoingState.SENDING)
    assert tray_state(_status(sending)) == TrayState.TRANSFERRING
