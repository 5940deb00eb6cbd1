"""The trust dialog's "Add a host seen on the network" box: pick a host, verify, trust.

The box lists the hosts seen on the network whose key is not on the list yet (one line per
key), opens the verification step for the one picked, and hands a confirmed key to the dialog.
"""

import logging
from collections.abc import Callable

from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QPushButton, QWidget

from mfsync.crypto.keys import short_key
from mfsync.engine.service import Service
from mfsync.engine.status import PeerSnapshot
from mfsync.gui.i18n import QT_TR_NOOP, tr
from mfsync.gui.verify_dialog import VerifyDialog, describe_peer, peer_key

__all__ = ["NO_HOSTS_TEXT", "HostVerifier", "untrusted_peers"]

log = logging.getLogger("mfsync.gui")

NO_HOSTS_TEXT = QT_TR_NOOP("No untrusted hosts seen on the network")


def untrusted_peers(peers: tuple[PeerSnapshot, ...], listed: set[bytes],
                    own_key: bytes) -> list[PeerSnapshot]:
    """Of ``peers``, those with a key neither ``listed`` nor our own (the first per key)."""
    seen: set[bytes] = set()
    found: list[PeerSnapshot] = []
    for peer in peers:
        key = peer_key(peer)
        if key is None or key in listed or key in seen or key == own_key:
            continue
        seen.add(key)
        found.append(peer)
    return found


class HostVerifier(QGroupBox):
    """A host picker and "Verify and trust…"; ``trust(key, name)`` is called on a match.

    ``listed`` tells which keys are on the list already (those hosts are not offered).
    """

    def __init__(self, service: Service, listed: Callable[[], list[bytes]],
                 trust: Callable[[bytes, str], object], parent: QWidget | None = None) -> None:
        super().__init__(tr("Add a host seen on the network"), parent)
        self.service = service
        self._listed = listed
        self._trust = trust
        self._peers: list[PeerSnapshot] = []
        #: The verification dialog currently open, if any.
        self.verify_dialog: VerifyDialog | None = None
        row = QHBoxLayout(self)
        self.peer_combo = QComboBox()
        self.peer_combo.setAccessibleName(tr("Host to trust"))
        self.peer_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.verify_button = QPushButton(tr("Verify and trust…"))
        self.verify_button.setAutoDefault(False)
        self.verify_button.clicked.connect(self._verify_clicked)
        row.addWidget(self.peer_combo, stretch=1)
        row.addWidget(self.verify_button)

    def untrusted_peers(self) -> list[PeerSnapshot]:
        """Hosts seen on the network with a key that is not on the list (one per key)."""
        status = self.service.status
        return untrusted_peers(status.node.peers, set(self._listed()), status.own_key)

    def refresh(self) -> None:
        """List the untrusted hosts again, keeping the one picked if it is still there."""
        current = self.peer_combo.currentIndex()
        old = peer_key(self._peers[current]) if 0 <= current < len(self._peers) else None
        self._peers = self.untrusted_peers()
        self.peer_combo.clear()
        for peer in self._peers:
            self.peer_combo.addItem(describe_peer(peer))
        if not self._peers:
            self.peer_combo.addItem(tr(NO_HOSTS_TEXT))
        keys = [peer_key(p) for p in self._peers]
        self.peer_combo.setCurrentIndex(keys.index(old) if old in keys else 0)
        self.peer_combo.setEnabled(bool(self._peers))
        self.verify_button.setEnabled(bool(self._peers))

    def start_verification(self, peer: PeerSnapshot) -> VerifyDialog:
        """Open the verification step for a host seen on the network; its key (proven, or else
        announced) is trusted with its announced name if the user confirms."""
        key = peer_key(peer)
        if key is None:
            raise ValueError("a host without any key cannot be verified")
        return self._open(VerifyDialog(self.service, key, name=peer.name, address=peer.address,
                                       proven=peer.key is not None, parent=self.window()))

    def verify_key(self, key: bytes) -> VerifyDialog:
        """Open the verification step for ``key`` (for "Verify" on a host elsewhere in the app).

        The host's name and address come from the network snapshot when it is there.
        """
        peer = next((p for p in self.service.status.node.peers if peer_key(p) == key), None)
        if peer is not None:
            return self.start_verification(peer)
        return self._open(VerifyDialog(self.service, key, name=self.service.config.name_of(key),
                                       parent=self.window()))

    def _open(self, dialog: VerifyDialog) -> VerifyDialog:
        if self.verify_dialog is not None:
            self.verify_dialog.close()
        self.verify_dialog = dialog

        def confirmed() -> None:
            self._trust(dialog.key, dialog.name)
            log.info("verified and trusted %s", dialog.name or short_key(dialog.key))

        dialog.accepted.connect(confirmed)
        dialog.finished.connect(lambda _r: self._closed(dialog))
        # open(), not exec(): window-modal without a nested event loop, so the engine keeps
        # running underneath (qasync) and tests can drive the buttons.
        dialog.open()
        return dialog

    def _verify_clicked(self) -> None:
        index = self.peer_combo.currentIndex()
        if 0 <= index < len(self._peers):
            self.start_verification(self._peers[index])

    def _closed(self, dialog: VerifyDialog) -> None:
        if self.verify_dialog is dialog:
            self.verify_dialog = None
