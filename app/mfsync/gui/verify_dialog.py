"""The verification step before trusting a host, and how a host seen on the network is named.

Both hosts compute the same short code from the pair of keys; the user compares the two codes
(read aloud, or side by side) and trusts the other host only if they match.
"""

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from mfsync.crypto.keys import format_key, short_key
from mfsync.display import shown
from mfsync.engine.service import Service
from mfsync.engine.status import PeerSnapshot
from mfsync.gui.i18n import tr

__all__ = ["CODE_POINT_SIZE", "VERIFY_MIN_WIDTH", "VerifyDialog", "describe_peer", "peer_key"]

#: The verification code is read aloud and compared by eye: make it big.
CODE_POINT_SIZE = 28
#: The verification dialog's least width, in pixels.
VERIFY_MIN_WIDTH = 640


class VerifyDialog(QDialog):
    """The verification step before trusting a host.

    Shows the code both hosts compute from the pair of keys; accepting means "they match".
    ``proven`` says whether the key was proven in a handshake or only announced.
    """

    def __init__(self, service: Service, key: bytes, *, name: str = "", address: str = "",
                 proven: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = key
        self.name = name
        label = name or address or short_key(key)
        self.setWindowTitle(tr("Verify {host}").format(host=label))
        # wide enough for a key on one line: the labels wrap, and would make it tall and narrow
        self.setMinimumWidth(VERIFY_MIN_WIDTH)
        layout = QVBoxLayout(self)

        self.code_label = QLabel(service.verification_code(key))
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSize(CODE_POINT_SIZE)
        font.setWeight(QFont.Weight.Bold)
        self.code_label.setFont(font)
        self.code_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.code_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        own = format_key(service.status.own_key)
        self.instruction_label = QLabel(
            tr("Compare this code with the one shown on {host}'s screen (in mfsync: Hosts → "
               "Verify and trust…, or {command}). Trust only if they match.").format(
                host=html.escape(label), command=f"<code>mfsync --verify {own}</code>"))
        self.instruction_label.setWordWrap(True)
        self.instruction_label.setTextFormat(Qt.TextFormat.RichText)
        self.instruction_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse)

        text = (tr("{host} at {address}, key {key}") if address else
                tr("{host}, key {key}")).format(host=label, address=address, key=format_key(key))
        if not proven:
            text += tr(" (announced only, not yet proven by a connection)")
        self.key_label = QLabel(text)
        # The name is what the host announced: plain text, never markup.
        self.key_label.setTextFormat(Qt.TextFormat.PlainText)
        self.key_label.setWordWrap(True)
        self.key_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        buttons = QDialogButtonBox()
        self.match_button = buttons.addButton(
            tr("They match \u2013 trust"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        # Enter must not trust a host by accident: the user has to click.
        self.match_button.setAutoDefault(False)
        self.cancel_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        layout.addWidget(self.key_label)
        layout.addWidget(self.code_label)
        layout.addWidget(self.instruction_label)
        layout.addWidget(buttons)


def peer_key(peer: PeerSnapshot) -> bytes | None:
    """The key a peer is known by: proven in a handshake if it was, else announced."""
    return peer.key if peer.key is not None else peer.announced_key


def describe_peer(peer: PeerSnapshot) -> str:
    """One line for the host picker: name, address and short key (and whether it is proven)."""
    key = peer_key(peer)
    key_text = short_key(key) if key is not None else "?"
    proven = "" if peer.key is not None else tr(", announced only")
    return f"{shown(peer.name) or tr('(no name)')} — {peer.address} — {key_text}{proven}"
