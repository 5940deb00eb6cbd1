"""An offer's parts put together, as the receiver gets them: the rules between parts.

How it works. One ``OfferRequest`` is checked on its own by its decoder (caps, label, part
numbers in range). ``OfferParts`` holds what the parts of one offer say together, checking each
part as it arrives, before its entries are kept: the parts come in order from 1, each repeats
the first part's header (offer id, port, totals, parts, label), no part but the last is empty,
the entries so far stay within ``total_files``, ``total_bytes`` and ``MAX_OFFER_ENTRY_BYTES``,
every path is a valid wire path (``names.check_wire_path``), none comes twice and none is a
folder of another (``a`` and ``a/b``); at the last part the entries must make the totals
exactly. A rule broken is ``BadOffer``, whose text says which, for the sender's user: the
receiver answers ``OfferReply(REFUSED, reason)`` (PROTOCOL.md 3.13). Nothing here does I/O.
"""

from mfsync.protocol.names import InvalidName, check_wire_path
from mfsync.protocol.offer_messages import OfferEntry, OfferRequest

__all__ = ["MAX_OFFER_ENTRY_BYTES", "BadOffer", "OfferParts"]

#: Bytes of entries (as on the wire) a receiver keeps of one offer, across its parts: a million
#: files of ordinary names fit; a million paths of 4 KiB would take gigabytes.
MAX_OFFER_ENTRY_BYTES = 128 * 1024 * 1024


class BadOffer(ValueError):
    """The offer's parts break a rule (see the module): refuse the offer, with this reason."""


class OfferParts:
    """The parts of one offer so far, each checked against the others (see the module)."""

    def __init__(self) -> None:
        self._first: OfferRequest | None = None
        self._next = 1
        self._entries: list[OfferEntry] = []
        self._bytes = 0
        self._wire_bytes = 0
        self._paths: set[str] = set()
        self._folders: set[str] = set()

    @property
    def header(self) -> OfferRequest | None:
        """The offer's first part (its header: id, port, totals, label), once it arrived."""
        return self._first

    @property
    def complete(self) -> bool:
        """Whether every part arrived (and the totals matched)."""
        return self._first is not None and self._next > self._first.parts

    @property
    def entries(self) -> tuple[OfferEntry, ...]:
        """The entries of the parts so far, in order."""
        return tuple(self._entries)

    def add(self, part: OfferRequest) -> bool:
        """Take the next part; whether the offer is now complete. ``BadOffer`` if the part
        does not fit the others (nothing of it is kept then)."""
        first = self._first
        if first is None:
            first = part
        elif self.complete:
            raise BadOffer(f"offer {part.offer}: a part after the last")
        elif (part.offer, part.port, part.total_files, part.total_bytes, part.parts,
              part.label) != (first.offer, first.port, first.total_files, first.total_bytes,
                              first.parts, first.label):
            raise BadOffer(f"offer {first.offer}: part {part.part} does not repeat the "
                           f"offer's header")
        if part.part != self._next:
            raise BadOffer(f"offer {first.offer}: part {part.part} came where part "
                           f"{self._next} was due")
        if not part.entries and not part.last:
            raise BadOffer(f"offer {first.offer}: an empty part before the last")
        self._check_totals(first, part)
        self._check_names(part.entries)
        self._first = first
        self._next += 1
        self._entries.extend(part.entries)
        self._bytes += sum(entry.size for entry in part.entries)
        self._wire_bytes += sum(entry.wire_size for entry in part.entries)
        return self.complete

    def _check_totals(self, first: OfferRequest, part: OfferRequest) -> None:
        files = len(self._entries) + len(part.entries)
        size = self._bytes + sum(entry.size for entry in part.entries)
        wire = self._wire_bytes + sum(entry.wire_size for entry in part.entries)
        if files > first.total_files or size > first.total_bytes:
            raise BadOffer(f"offer {first.offer}: more than the {first.total_files} files of "
                           f"{first.total_bytes} bytes it announced")
        if wire > MAX_OFFER_ENTRY_BYTES:
            raise BadOffer(f"offer {first.offer}: its list of files is larger than "
                           f"{MAX_OFFER_ENTRY_BYTES >> 20} MiB")
        if part.last and (files, size) != (first.total_files, first.total_bytes):
            raise BadOffer(f"offer {first.offer}: its files make {files} files of {size} "
                           f"bytes, not the {first.total_files} of {first.total_bytes} it "
                           f"announced")

    def _check_names(self, entries: tuple[OfferEntry, ...]) -> None:
        """Every path valid, none twice, none a folder of another (checked before any of the
        part's names is kept: a part refused leaves the sets as they were)."""
        paths: set[str] = set()
        folders: set[str] = set()
        for entry in entries:
            path = entry.path
            try:
                check_wire_path(path)
            except InvalidName as exc:
                raise BadOffer(f"the offer names {path!r}: {exc}") from None
            if path in self._paths or path in paths:
                raise BadOffer(f"the offer names {path!r} twice")
            if path in self._folders or path in folders:
                raise BadOffer(f"the offer names {path!r} as a file and as a folder")
            paths.add(path)
            end = path.rfind("/")
            while end > 0:
                folder = path[:end]
                if folder in self._paths or folder in paths:
                    raise BadOffer(f"the offer names {folder!r} as a file and as a folder")
                if folder in self._folders or folder in folders:
                    break  # its parents are known already
                folders.add(folder)
                end = path.rfind("/", 0, end)
        self._paths |= paths
        self._folders |= folders
