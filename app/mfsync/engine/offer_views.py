"""The offers our file server serves: one temporary folder per offer we sent, seen by its
receiver only, and the receivers' keys our server lets in while their offers last.

How it works: the outbox stages what it sends (``offer_files``) and hands the node the offer's
folder view (``serve``); the file server lists it after our own folders (``views``), to its
receiver alone (the view's ``admits``), and never counts it in the generation we announce. The
receiver connects to our server to fetch the files and answer, so its key is let in for as long
as the offer is served, even when our trust list does not name it: the user chose to send to
it (``allows``). Such a key sees the offer and nothing else: ``served`` shows it none of our
folders (not even those everyone past the trust list may see). ``withdraw`` ends both.
"""

import dataclasses
from collections.abc import Callable, Sequence

from mfsync.engine.folder_view import LocalFolderView
from mfsync.protocol.folder_id import FolderId

__all__ = ["OfferViews"]


class OfferViews:
    """The folder views of the offers we send, and who may connect for them."""

    def __init__(self) -> None:
        self._views: dict[FolderId, tuple[LocalFolderView, bytes]] = {}

    def serve(self, view: LocalFolderView, receiver: bytes) -> None:
        """Serve ``view`` (an offer's folder) to ``receiver``, and let it connect meanwhile."""
        self._views[view.id] = (view, receiver)

    def withdraw(self, offer: FolderId) -> None:
        """Stop serving the offer ``offer`` (nothing if it is not served)."""
        self._views.pop(offer, None)

    def serves(self, offer: FolderId) -> bool:
        """Whether the offer ``offer`` is served now."""
        return offer in self._views

    def views(self) -> list[LocalFolderView]:
        """The offers' folder views, in the order they were served."""
        return [view for view, _ in self._views.values()]

    def allows(self, key: bytes) -> bool:
        """Whether a client with ``key`` is the receiver of an offer served now."""
        return any(receiver == key for _, receiver in self._views.values())

    def count(self) -> int:
        """How many files the offers served now hold (not counted as files we share)."""
        return sum(root.count for view, _ in self._views.values() for root in view.shares)

    def served(self, folders: Sequence[LocalFolderView],
               is_trusted: Callable[[bytes], bool]) -> list[LocalFolderView]:
        """What the file server serves: our ``folders`` (seen only by keys ``is_trusted``
        lets in, when a key our trust list does not name is let in for an offer), then the
        offers."""
        if any(not is_trusted(receiver) for _, receiver in self._views.values()):
            folders = [dataclasses.replace(view, admits=_trusted_only(view.admits, is_trusted))
                       for view in folders]
        return [*folders, *self.views()]


def _trusted_only(admits: Callable[[bytes], bool],
                  is_trusted: Callable[[bytes], bool]) -> Callable[[bytes], bool]:
    """``admits``, for keys ``is_trusted`` lets in only."""

    def check(key: bytes) -> bool:
        return is_trusted(key) and admits(key)

    return check
