"""Errors of the wire protocol, split by whose fault they are (as h11 does).

``RemoteProtocolError`` means the peer sent something we refuse: drop it, log the reason, go on
serving others. ``LocalProtocolError`` means our own code asked for something the protocol does
not allow: a bug on our side, never caused by input.
"""

__all__ = ["BrokenReply", "LocalProtocolError", "ProtocolError", "RemoteProtocolError"]


class ProtocolError(Exception):
    """Base class of every protocol error."""


class RemoteProtocolError(ProtocolError):
    """The peer sent malformed, oversized, out-of-order or forged data."""


class BrokenReply(RemoteProtocolError):
    """A reply from the peer that may follow its request (its type has a row in the exchange
    table) but breaks a rule of that exchange: data out of order, a block list that does not
    fit the file or its content id, an index past our caps. Distinguished from a message out of
    place because a client counts a bad block list against the host apart from other faults."""


class LocalProtocolError(ProtocolError):
    """We tried to send or do something the protocol forbids (a bug on our side)."""
