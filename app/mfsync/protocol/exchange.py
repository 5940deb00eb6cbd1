"""The request/response exchanges as sans-IO state tables: Folders, Index, Blocks, Get and the
offers', both roles.

How it works, in the manner of h11's ``_state.py``. Past the hellos a connection goes through
cycles of one request and its whole reply: only the client asks, one request at a time
(PROTOCOL.md 2.6). One table, ``TRANSITIONS``, says which message may follow which: for each
``State``, the (sender, kind) pairs allowed in it and the state each one leads to. A message's
kind is its type, refined by its ``last`` flag for the replies sent in parts (``MULTIPART``):
``(IndexChunk, MORE)`` keeps the state, ``(IndexChunk, LAST)`` ends the cycle.

The table knows nothing of which end runs it (h11's rule 2): an ``Exchange`` applies it to what
its own end sends (``send``) and to what the peer sends (``receive``), so both ends are held to
the same rules. A message that has no row is a ``LocalProtocolError`` when we send it (a bug of
ours) and a ``RemoteProtocolError`` when the peer does; either error moves the exchange to
``ERROR`` for good, and the connection must be closed.

What a type cannot say (data continuous, a block list contiguous and hashing to the content id,
an index within the receiver's caps) is checked by the rules of the reply to the request that
opened the cycle (``REPLY_RULES``, classes in ``exchange_replies``), in both directions: a peer
breaking one gets ``BrokenReply`` (a ``RemoteProtocolError``), we get ``LocalProtocolError``.
Caps are the receiver's, applied to what arrives, before any of it is kept.

``receive`` returns a frozen event (``exchange_events``): for a server ``RequestReceived``
(answer it), ``NotARequest`` (answer BAD_REQUEST) or ``PeerReport`` (log it); for a client a
part of the reply, its end, or ``Refused``.

Adding an exchange adds rows, not a code path. The folder list was added so: a state
``FOLDERS``, three rows and one entry of ``REPLY_RULES``::

    State.IDLE:    (CLIENT, FoldersRequest)  -> State.FOLDERS
    State.FOLDERS: (SERVER, FolderList)      -> State.IDLE
                   (SERVER, ErrorMessage)    -> State.IDLE
    REPLY_RULES    FoldersRequest: FolderListReply

The offers were added the same way (PROTOCOL.md 3.13): states ``OFFER`` (the reply to an offer
part) and ``ACKING`` (the ``Ack`` of an answer, receipt or cancel), their rows, and two entries
of ``REPLY_RULES``. Nothing in ``Exchange`` changed. So was the batch of small files
(``GetFilesRequest``, 3.15): a state ``FILES``, five rows, one entry of ``REPLY_RULES``.
"""

import enum
from collections.abc import Callable, Mapping
from typing import Final

from mfsync.protocol.errors import BrokenReply, LocalProtocolError, RemoteProtocolError
from mfsync.protocol.exchange_events import (
    ExchangeEvent,
    NotARequest,
    PeerReport,
    Refused,
    RequestReceived,
)
from mfsync.protocol.exchange_replies import (
    AckReply,
    BlocksReply,
    FilesReply,
    FolderListReply,
    IndexReply,
    OfferReplyRules,
    RangeReply,
    ReplyRules,
    RuleBroken,
)
from mfsync.protocol.messages import (
    Ack,
    AnswerRequest,
    BlockList,
    BlocksRequest,
    CancelRequest,
    Data,
    End,
    ErrorMessage,
    FileData,
    FileFailed,
    FolderList,
    FoldersRequest,
    GetFilesRequest,
    GetRequest,
    IndexChunk,
    IndexRequest,
    Message,
    OfferReply,
    OfferRequest,
    ReceiptRequest,
)
from mfsync.protocol.session import Role

__all__ = [
    "CLIENT",
    "LAST",
    "MORE",
    "MULTIPART",
    "REPLY_RULES",
    "SERVER",
    "TRANSITIONS",
    "Exchange",
    "Kind",
    "Part",
    "State",
    "kind_of",
]

CLIENT: Final = Role.CLIENT
SERVER: Final = Role.SERVER


class State(enum.Enum):
    """Where a connection is in its cycle; the value says what may come next."""

    IDLE = "a request"                  #: nothing outstanding: the client may ask
    FOLDERS = "a folder list"           #: the server owes one FolderList
    INDEX = "index chunks"              #: the server owes IndexChunks up to the last
    BLOCKS = "block list parts"         #: the server owes BlockLists up to the last
    DATA = "data or its end"            #: the server owes Data covering the range, then End
    FILES = "files or their end"        #: the server owes each file (or its error), then End
    OFFER = "an offer reply"            #: the server owes one OfferReply to an offer part
    ACKING = "an ack"                   #: the server owes one Ack (of an answer, receipt, cancel)
    REFUSING = "a refusal"              #: the server owes BAD_REQUEST for a non-request
    ERROR = "nothing (closed on an error)"  #: a rule was broken: the connection must close


class Part(enum.Enum):
    """Of a reply sent in parts: whether more follow (the message's ``last`` flag)."""

    MORE = "more"
    LAST = "last"


MORE: Final = Part.MORE
LAST: Final = Part.LAST

#: A message's kind: its type, with MORE or LAST for the types in ``MULTIPART``.
Kind = type[Message] | tuple[type[Message], Part]

#: Reply types sent in parts, whose ``last`` flag is part of their kind.
MULTIPART: Final[frozenset[type[Message]]] = frozenset({IndexChunk, BlockList})

#: Client messages that are no requests: answered with BAD_REQUEST, the connection kept (2.6).
_NOT_REQUESTS: Final[tuple[Kind, ...]] = (
    (IndexChunk, MORE), (IndexChunk, LAST), (BlockList, MORE), (BlockList, LAST), Data, End,
    FolderList, OfferReply, Ack, FileData, FileFailed,
)

#: The requests about an offer that the server acknowledges (``Ack``).
_ACKED: Final[tuple[type[Message], ...]] = (AnswerRequest, ReceiptRequest, CancelRequest)

#: (state) -> (sender, kind) -> next state. A pair not listed may not follow.
TRANSITIONS: Final[Mapping[State, Mapping[tuple[Role, Kind], State]]] = {
    State.IDLE: {
        (CLIENT, FoldersRequest): State.FOLDERS,
        (CLIENT, IndexRequest): State.INDEX,
        (CLIENT, BlocksRequest): State.BLOCKS,
        (CLIENT, GetRequest): State.DATA,
        (CLIENT, GetFilesRequest): State.FILES,
        (CLIENT, OfferRequest): State.OFFER,
        **{(CLIENT, kind): State.ACKING for kind in _ACKED},
        (CLIENT, ErrorMessage): State.IDLE,  # a report: logged, not answered
        **{(CLIENT, kind): State.REFUSING for kind in _NOT_REQUESTS},
    },
    State.FOLDERS: {
        (SERVER, FolderList): State.IDLE,
        (SERVER, ErrorMessage): State.IDLE,
    },
    State.INDEX: {
        (SERVER, (IndexChunk, MORE)): State.INDEX,
        (SERVER, (IndexChunk, LAST)): State.IDLE,
        (SERVER, ErrorMessage): State.IDLE,
    },
    State.BLOCKS: {
        (SERVER, (BlockList, MORE)): State.BLOCKS,
        (SERVER, (BlockList, LAST)): State.IDLE,
        (SERVER, ErrorMessage): State.IDLE,
    },
    State.DATA: {
        (SERVER, Data): State.DATA,
        (SERVER, End): State.IDLE,
        (SERVER, ErrorMessage): State.IDLE,  # CHANGED instead of End, even after some Data
    },
    State.FILES: {
        (SERVER, FileData): State.FILES,
        (SERVER, FileFailed): State.FILES,  # one file's error: the reply goes on
        (SERVER, End): State.IDLE,
        (SERVER, ErrorMessage): State.IDLE,  # the whole request refused (no such folder...)
    },
    State.OFFER: {
        (SERVER, OfferReply): State.IDLE,
        (SERVER, ErrorMessage): State.IDLE,
    },
    State.ACKING: {
        (SERVER, Ack): State.IDLE,
        (SERVER, ErrorMessage): State.IDLE,  # NO_SUCH_FOLDER: not an offer of this peer's
    },
    State.REFUSING: {
        (SERVER, ErrorMessage): State.IDLE,
    },
    State.ERROR: {},
}

#: The content rules of the reply each request opens (``exchange_replies``): built with the
#: request, ``limits`` (the reply is received: the receiver's caps apply) and the size the
#: requester expects (a block list's file size, from the index).
REPLY_RULES: Final[Mapping[type[Message], Callable[..., ReplyRules]]] = {
    FoldersRequest: FolderListReply,
    IndexRequest: IndexReply,
    BlocksRequest: BlocksReply,
    GetRequest: RangeReply,
    GetFilesRequest: FilesReply,
    OfferRequest: OfferReplyRules,
    **{kind: AckReply for kind in _ACKED},
}


def kind_of(message: Message) -> Kind:
    """The kind ``TRANSITIONS`` knows ``message`` by."""
    if isinstance(message, IndexChunk | BlockList):
        return (type(message), LAST if message.last else MORE)
    return type(message)


def _name(kind: Kind) -> str:
    if isinstance(kind, tuple):
        return f"{kind[0].__name__} ({kind[1].value})"
    return kind.__name__


class Exchange:
    """One end of a connection's request/response cycles: ``send`` what this end sends,
    ``receive`` what the peer sent, both checked against ``TRANSITIONS`` and the reply rules.

    Without I/O: the caller moves the messages (``mfsync.net.client``, ``mfsync.engine.serve``).
    """

    def __init__(self, role: Role) -> None:
        self.role = role
        self._peer = SERVER if role is CLIENT else CLIENT
        self._state = State.IDLE
        self._reply: ReplyRules | None = None
        self._failure = ""

    @property
    def state(self) -> State:
        """Where the connection is in its cycle."""
        return self._state

    @property
    def reply_begun(self) -> bool:
        """Whether part of the reply under way has been accepted (a close now cuts it)."""
        return self._reply is not None and self._reply.begun

    def send(self, message: Message, *, expected_size: int | None = None) -> None:
        """Check ``message`` before this end sends it; ``LocalProtocolError`` if it may not
        follow. A client asking for a block list gives the file's size (``expected_size``,
        from the index), which bounds the hashes it will keep."""
        try:
            self._process(message, self.role, expected_size)
        except RuleBroken as exc:
            raise self._fail(LocalProtocolError(str(exc))) from None

    def receive(self, message: Message) -> ExchangeEvent:
        """Check what the peer sent and say what it means; ``RemoteProtocolError`` if it may
        not follow (``BrokenReply`` if it has its place but breaks a rule of its reply)."""
        try:
            return self._process(message, self._peer, None)
        except RuleBroken as exc:
            raise self._fail(BrokenReply(str(exc))) from None

    def _process(self, message: Message, sender: Role,
                 expected_size: int | None) -> ExchangeEvent:
        state = self._state
        kind = kind_of(message)
        next_state = TRANSITIONS[state].get((sender, kind))
        if next_state is None:
            if state is State.ERROR:
                raise LocalProtocolError(f"the exchange has failed ({self._failure}): close "
                                         f"the connection")
            text = f"expected {state.value}, got {_name(kind)}"
            if sender is not self.role:
                raise self._fail(RemoteProtocolError(text))
            raise self._fail(LocalProtocolError(f"{self.role.value} cannot send {_name(kind)} "
                                                f"now: {text}"))
        event: ExchangeEvent
        if state is State.IDLE:
            event = self._open(message, next_state, sender, expected_size)
        elif isinstance(message, ErrorMessage):
            event = Refused(message)  # an end to any reply (the request is refused)
            self._reply = None
        else:
            assert self._reply is not None  # every state past IDLE but REFUSING has rules
            event = self._reply.accept(message)
            if next_state is State.IDLE:
                self._reply = None
        self._state = next_state
        return event

    def _open(self, message: Message, next_state: State, sender: Role,
              expected_size: int | None) -> ExchangeEvent:
        """A message in IDLE: a request opens its reply's rules."""
        if isinstance(message, ErrorMessage):
            return PeerReport(message)
        if next_state is State.REFUSING:
            return NotARequest(message)
        # The replies come to us if we asked: then the receiver's caps apply.
        self._reply = REPLY_RULES[type(message)](
            message, limits=sender is self.role, expected_size=expected_size)
        return RequestReceived(message)

    def _fail(self, error: Exception) -> Exception:
        self._state = State.ERROR
        self._reply = None
        self._failure = str(error)
        return error
