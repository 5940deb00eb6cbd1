"""The engine's states and reasons, in the user's language.

The engine names states with English words (the values of ``TransferState``, ``PeerState``,
``IncomingState``, ``OutgoingState``, ``PauseReason``, folder modes, and the network table's
``FileState``); the app shows each through ``tr``. Every word is listed here (``QT_TR_NOOP``)
so that ``pyside6-lupdate`` puts it before the translator; ``tests/gui/test_translations.py``
fails when an enum gains a value this list lacks.
"""


from mfsync.engine.outbox import OutgoingState, OutgoingStatus
from mfsync.gui.i18n import QT_TR_NOOP, tr

__all__ = ["STATE_WORDS", "send_text", "state_text"]

STATE_WORDS = (
    # transfers
    QT_TR_NOOP("queued"), QT_TR_NOOP("verifying"), QT_TR_NOOP("downloading"),
    QT_TR_NOOP("waiting"), QT_TR_NOOP("done"), QT_TR_NOOP("failed"), QT_TR_NOOP("skipped"),
    QT_TR_NOOP("paused"), QT_TR_NOOP("cancelled"),
    # hosts
    QT_TR_NOOP("announced"), QT_TR_NOOP("connected"), QT_TR_NOOP("untrusted"),
    QT_TR_NOOP("refused"), QT_TR_NOOP("unreachable"),
    # offers made to us, and ours
    QT_TR_NOOP("pending"), QT_TR_NOOP("receiving"), QT_TR_NOOP("received"),
    QT_TR_NOOP("declined"), QT_TR_NOOP("staging"), QT_TR_NOOP("sending"),
    QT_TR_NOOP("delivered"), QT_TR_NOOP("timed out"),
    # why transfers are paused
    QT_TR_NOOP("paused on battery"),
    # folders
    QT_TR_NOOP("share"), QT_TR_NOOP("sync"),
    # files on the network
    QT_TR_NOOP("remote"), QT_TR_NOOP("local"), QT_TR_NOOP("downloaded"), QT_TR_NOOP("conflict"),
)


def state_text(word: str) -> str:
    """The state ``word`` (an English word of the engine's) in the user's language."""
    return tr(word)


def send_text(offer: OutgoingStatus) -> str:
    """Where an offer we send stands, for people ("waiting for office-pc to accept",
    "declined: …"): ``OutgoingStatus.text`` in the user's language (the reason is the other
    side's own words, or the engine's, as they came)."""
    state = offer.state
    if state is OutgoingState.WAITING:
        return tr("waiting for {host} to accept").format(host=offer.to_text)
    if state is OutgoingState.SENDING:
        return tr("sending to {host}").format(host=offer.to_text)
    if state is OutgoingState.DELIVERED:
        return tr("delivered to {host}").format(host=offer.to_text)
    word = state.value
    if offer.reason and offer.reason != word:
        return f"{state_text(word)}: {offer.reason}"
    return state_text(word)
