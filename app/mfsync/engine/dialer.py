"""Opening secure channels to peers, as this host, and keeping count of those still open.

Every channel we open (an index fetch, a download's exchange) goes through one ``Dialer``: it
knows our identity, the hello we send and the handshake timeout, and it remembers the channels
until they close, so that a change of the trust list can drop those to keys no longer trusted
(the server keeps its own inbound channels).
"""

from collections.abc import Callable

from mfsync.crypto.keys import Identity
from mfsync.engine.status import HostRef
from mfsync.net.channel import SecureChannel, open_channel
from mfsync.protocol.messages import Hello

__all__ = ["Dialer"]


class Dialer:
    """Opens channels as ``identity`` with ``hello``; ``channels`` are those still open."""

    def __init__(self, identity: Identity, hello: Hello, *, timeout: float) -> None:
        self._identity = identity
        self._hello = hello
        self._timeout = timeout
        self._channels: set[SecureChannel] = set()

    @property
    def channels(self) -> frozenset[SecureChannel]:
        """The channels we opened that are still open."""
        return frozenset(self._channels)

    async def open(self, address: str, port: int,
                   authorize: Callable[[bytes], bool]) -> SecureChannel:
        """A channel to ``address:port``; ``authorize`` decides on the key the peer proves.
        ``ChannelError``, ``NotTrusted``, ``PeerRefused`` or ``OSError`` as ``open_channel``."""
        channel = await open_channel(address, port, self._identity, hello=self._hello,
                                     authorize=authorize, timeout=self._timeout)
        self._channels.add(channel)
        channel.when_closed(self._channels.discard)
        return channel

    async def connect(self, host: HostRef, is_trusted: Callable[[bytes], bool]
                      ) -> SecureChannel:
        """A channel to ``host``, insisting that it proves the key it was seen with (and that
        the key is still trusted)."""
        def authorize(key: bytes) -> bool:
            return key == host.key and is_trusted(key)

        return await self.open(host.address, host.port, authorize)
