"""What the engine says to people, as a code with arguments that also reads as English text.

The engine's messages for people (a refused request, a failed download) go to three places:
the terminal, the log, and the desktop app, which speaks the user's language. A ``Report`` is
a ``str`` (its English text, so the command line prints it, the log holds it and tests compare
it as before) that also carries its ``code`` and ``args``: the desktop app renders the code's
template in the user's language with those arguments (``mfsync.gui.report_texts``). The
English templates are here, the one place that knows them; arguments are already text (names,
paths, numbers, and the messages of lower layers, which stay as they are).
"""

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["ENGLISH", "Report"]

#: Every report's English template, by code.
ENGLISH: Mapping[str, str] = MappingProxyType({
    # downloads that end without the file
    "superseded": "superseded: the file changed on the network",
    "every-source-failed": "every host offering it failed: {why}",
    "no-source": "no host offers it any more",
    "no-delivery": "no host delivered any of it for {seconds} s",
    # requests of the app refused
    "folder-here-already": "the folder {folder} is here already",
    "not-shared": "{path} is not a shared folder",
    "shared-already": "{path} is shared already",
    "overlaps": "{path} overlaps the shared folder {other}",
    "cannot-create": "cannot create {path}: {error}",
    "nothing-to-send": "nothing to send",
    "no-such-offer": "no offer {offer} is under way",
    "offer-not-sent": "no offer {offer} was sent",
    "host-not-here": "no host with that key is on the network now (give its address)",
    "folder-not-offered": "no host offers the folder {folder} to sync now",
    # why a shared folder is not served now
    "served-by": "served by {command}",
    "served-by-pid": "served by {command} (pid {pid})",
    "served-by-other": "served by another mfsync",
    "served-by-other-pid": "served by another mfsync (pid {pid})",
    "cannot-serve": "cannot serve it: {error}",
})


class Report(str):
    """A message for people: its English text, with the ``code`` and ``args`` it was made
    from (see the module's docstring). ``Report("overlaps", path=a, other=b)``."""

    code: str
    args: Mapping[str, str]

    def __new__(cls, code: str, **args: object) -> "Report":
        """The report ``code`` (a key of ``ENGLISH``) with ``args`` (each made text)."""
        texts = {name: str(value) for name, value in args.items()}
        report = super().__new__(cls, ENGLISH[code].format(**texts))
        report.code = code
        report.args = MappingProxyType(texts)
        return report

    def __reduce__(self) -> tuple[object, ...]:  # (a str subclass with a __new__ of its own)
        return (_rebuild, (self.code, dict(self.args)))


def _rebuild(code: str, args: dict[str, str]) -> Report:
    return Report(code, **args)
