"""Local failures of a download: what a failed file operation here says to the user.

A download fails for good, with a plain message, when something on this side cannot be done:
a name that cannot be stored here (``UnsafePath``), too little free space
(``InsufficientSpace``) or a disk error (``OSError``). ``local`` runs one such operation and
turns its failure into a ``LocalFailure``; the engine reports it as the job's error (its
``JobFailed`` is this class).
"""

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from mfsync.store.safe_paths import UnsafePath
from mfsync.store.space import InsufficientSpace

__all__ = ["LOCAL_ERRORS", "LocalFailure", "describe", "local"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

#: What a local file operation of a download may raise.
LOCAL_ERRORS = (UnsafePath, InsufficientSpace, OSError)


class LocalFailure(Exception):
    """A download cannot succeed here (unsafe name, no space, disk error); the message says
    why."""


def local(func: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run a local file operation; its failure becomes a ``LocalFailure`` with a clear
    message."""
    try:
        return func(*args, **kwargs)
    except LOCAL_ERRORS as exc:
        raise LocalFailure(describe(exc)) from None


def describe(exc: UnsafePath | InsufficientSpace | OSError) -> str:
    """What a failed local file operation says to the user."""
    if isinstance(exc, UnsafePath | InsufficientSpace):
        return str(exc)
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"
