"""The engine's reports in the user's language.

The engine says what went wrong as a ``mfsync.reports.Report``: its English text, which is also
a code with arguments. ``render`` shows a report through ``tr`` with its arguments, so the user
reads it in the app's language (anything else, such as a lower layer's message, as it is).
The English templates live in ``mfsync.reports.ENGLISH`` (the engine imports no Qt); they are
listed here again, as ``QT_TR_NOOP``, for ``pyside6-lupdate``, and
``tests/gui/test_translations.py`` fails when one is missing.
"""

from mfsync.gui.i18n import QT_TR_NOOP, tr
from mfsync.reports import ENGLISH, Report

__all__ = ["REPORT_TEXTS", "render", "report_of"]

REPORT_TEXTS = (
    QT_TR_NOOP('superseded: the file changed on the network'),
    QT_TR_NOOP('every host offering it failed: {why}'),
    QT_TR_NOOP('no host offers it any more'),
    QT_TR_NOOP('no host delivered any of it for {seconds} s'),
    QT_TR_NOOP('the folder {folder} is here already'),
    QT_TR_NOOP('{path} is not a shared folder'),
    QT_TR_NOOP('{path} is shared already'),
    QT_TR_NOOP('{path} overlaps the shared folder {other}'),
    QT_TR_NOOP('cannot create {path}: {error}'),
    QT_TR_NOOP('nothing to send'),
    QT_TR_NOOP('no offer {offer} is under way'),
    QT_TR_NOOP('no offer {offer} was sent'),
    QT_TR_NOOP('no host with that key is on the network now (give its address)'),
    QT_TR_NOOP('no host offers the folder {folder} to sync now'),
    QT_TR_NOOP('served by {command}'),
    QT_TR_NOOP('served by {command} (pid {pid})'),
    QT_TR_NOOP('served by another mfsync'),
    QT_TR_NOOP('served by another mfsync (pid {pid})'),
    QT_TR_NOOP('cannot serve it: {error}'),
)


def render(text: str) -> str:
    """``text`` for the user: a ``Report`` in the app's language, anything else as it is."""
    if isinstance(text, Report):
        return tr(ENGLISH[text.code]).format(**text.args)
    return text


def report_of(exc: BaseException) -> str:
    """What an engine exception says: its ``Report`` where it carries one (for ``render``),
    else its message."""
    first = exc.args[0] if len(exc.args) == 1 else None
    return first if isinstance(first, Report) else str(exc)
