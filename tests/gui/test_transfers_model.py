"""The downloads table shows the engine's speed and time left; it measures nothing itself."""

from pathlib import Path

from PySide6.QtWidgets import QApplication

from mfsync.engine.service import ServiceStatus
from mfsync.engine.status import NodeStatus
from mfsync.engine.transfer_rates import TransferRates
from mfsync.engine.transfer_status import TransferSnapshot, TransfersStatus, TransferState
from mfsync.gui.transfers_model import TransfersModel

MB = 1000 * 1000
ROOT = Path("/tmp/dest")


def _service(transfers: TransfersStatus) -> ServiceStatus:
    return ServiceStatus(node=NodeStatus(), transfers=transfers, folders=(), own_key=b"k" * 32,
                         trusted_keys=frozenset(), key_names=())


def _snap(path: str, done: int, state: TransferState = TransferState.DOWNLOADING
          ) -> TransferSnapshot:
    return TransferSnapshot(path, 100 * MB, done, done, state, started_at=1.0,
                            key=(ROOT, path), target=ROOT / path)


def _cells(model: TransfersModel, row: int) -> list[str]:
    return [model.data(model.index(row, column)) for column in range(model.columnCount())]


def test_speed_and_time_left_come_from_the_status(qapp: QApplication) -> None:
    rates = TransferRates()
    model = TransfersModel()
    model.update(_service(rates.stamp((_snap("a", 0), _snap("v", 0, TransferState.VERIFYING)),
                                      now=10.0)))
    assert _cells(model, 0)[3:5] == ["0 B/s", ""]  # nothing measured yet
    status = rates.stamp((_snap("a", 20 * MB), _snap("v", 0, TransferState.VERIFYING)),
                         now=12.0)
    model.update(_service(status))
    name, direction, progress, speed, left, _source, state = _cells(model, 0)
    assert (name, direction, progress, speed, left, state) == (
        "a", "↓ download", "20%", "10.0 MB/s", "8 s", "downloading")
    assert model.speed_of((ROOT, "a")) == 10 * MB
    assert _cells(model, 1)[3:5] == ["", ""]  # verifying: no speed, no time left
    # The same status shown again (a redraw, another window) changes nothing: no measuring.
    model.update(_service(status))
    assert _cells(model, 0)[3:5] == ["10.0 MB/s", "8 s"]


def test_a_file_from_several_hosts_names_the_first_and_counts_the_others(
        qapp: QApplication) -> None:
    model = TransfersModel()
    one = TransferSnapshot("big", 100 * MB, 0, 0, TransferState.DOWNLOADING,
                           source="10.0.0.2:8000", key=(ROOT, "big"), target=ROOT / "big")
    model.update(_service(TransfersStatus((one,))))
    assert _cells(model, 0)[5] == "10.0.0.2:8000"
    both = TransferSnapshot("big", 100 * MB, 0, 0, TransferState.DOWNLOADING,
                            source="10.0.0.2:8000", key=(ROOT, "big"), target=ROOT / "big",
                            sources=2)
    model.update(_service(TransfersStatus((both,))))
    assert _cells(model, 0)[5] == "10.0.0.2:8000 and 1 more"
