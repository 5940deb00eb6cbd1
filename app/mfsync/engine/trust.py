"""The trust list: which keys may talk to us, what we call them, and whom we refused.

An empty list trusts everyone (a LAN where nobody has set trust up); otherwise only listed keys
may connect to us, and we go on with a host only once it has proven a listed key. A refusal is
recorded once per key and direction (``inbound``: it connected to us) until the list changes or
the key is let in again, so that a host retrying every few seconds is one line in the status,
not one a retry. The status keeps the latest ``MAX_REFUSALS``.
"""

import collections
import logging
from collections.abc import Callable, Iterable, Mapping

from mfsync.crypto.keys import short_key
from mfsync.engine.status import Refusal
from mfsync.net.channel import SecureChannel

__all__ = ["MAX_REFUSALS", "TrustList"]

log = logging.getLogger("mfsync.engine")

#: The status keeps this many of the latest refusals.
MAX_REFUSALS = 20


class TrustList:
    """The keys we trust and their names; records the hosts refused for not being on it.

    ``on_change`` is called when a refusal is recorded (something for the status to show).
    """

    def __init__(self, keys: frozenset[bytes], names: Mapping[bytes, str],
                 on_change: Callable[[], None]) -> None:
        self._keys = frozenset(keys)
        self._names = dict(names)
        self._on_change = on_change
        self._refusals: collections.deque[Refusal] = collections.deque(maxlen=MAX_REFUSALS)
        self._refusal_seq = 0
        #: (key, inbound) refused since the list last changed: recorded once, not on every
        #: retry or poll.
        self._refused: set[tuple[bytes, bool]] = set()

    @property
    def keys(self) -> frozenset[bytes]:
        """The trusted keys (empty: everyone is)."""
        return self._keys

    @property
    def names(self) -> dict[bytes, str]:
        """What the user calls each key (a copy)."""
        return dict(self._names)

    @property
    def refusals(self) -> tuple[Refusal, ...]:
        """The latest refusals, oldest first."""
        return tuple(self._refusals)

    def is_trusted(self, key: bytes) -> bool:
        """Whether ``key`` may talk to us (and we to it): always, when the list is empty."""
        return not self._keys or key in self._keys

    def is_listed(self, key: bytes | None) -> bool:
        """Whether ``key`` is on the list itself (what the status shows as trusted)."""
        return key is not None and key in self._keys

    def name_of(self, key: bytes) -> str:
        """What the user calls ``key``; empty if nothing."""
        return self._names.get(key, "")

    def replace(self, keys: frozenset[bytes], names: Mapping[bytes, str] | None = None) -> None:
        """Make ``keys`` (and, unless None, ``names``) the list; a refusal under the new list is
        news again."""
        self._keys = frozenset(keys)
        if names is not None:
            self._names = dict(names)
        self._refused.clear()

    def authorize_client(self, key: bytes) -> bool:
        """Whether a client that proved ``key`` may go on (the server asks after the
        handshake); a refused one is recorded by ``refused``, once the server knows its
        address."""
        if self.is_trusted(key):
            self.accepted(key, inbound=True)
            return True
        log.info("refused a client with untrusted key %s", short_key(key))
        return False

    def accepted(self, key: bytes, *, inbound: bool) -> None:
        """``key`` got through (in that direction): a later refusal of it is news again."""
        self._refused.discard((key, inbound))

    def refused(self, key: bytes, address: str, name: str, *, inbound: bool) -> None:
        """Record that the host at ``address`` with ``key`` (``name``: what it announced or
        we call it) was refused, unless it was already since the list last changed."""
        if (key, inbound) in self._refused:
            return
        self._refused.add((key, inbound))
        self._refusal_seq += 1
        self._refusals.append(Refusal(self._refusal_seq, key, address, name, inbound))
        self._on_change()

    def drop_untrusted(self, channels: Iterable[SecureChannel]) -> None:
        """Abort every open channel in ``channels`` to a key that is no longer trusted."""
        for channel in channels:
            if not channel.closed and not self.is_trusted(channel.remote_key):
                log.info("dropping the connection with %s (key %s): no longer trusted",
                         channel.peer_address[0], short_key(channel.remote_key))
                channel.abort()
