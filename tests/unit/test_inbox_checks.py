"""The receiver's checks before any prompt (engine/inbox.py), with a stand-in node: trust, the
rate limit per host, parts out of order, names, free space, the policy's decision."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mfsync.engine.inbox import (
    MAX_COLLECTING,
    AcceptPolicy,
    Inbox,
    IncomingState,
    size_text,
)
from mfsync.protocol.folder_id import FolderId
from mfsync.protocol.offer_messages import (
    CancelRequest,
    OfferEntry,
    OfferRequest,
    OfferStatus,
    split_offer,
)

KEY = b"k" * 32
OTHER = b"o" * 32
CONTENT = b"c" * 32


def _inbox(tmp_path: Path, *, trusted: frozenset[bytes] = frozenset(),
           policy: AcceptPolicy | None = None, free: int = 10**12) -> Inbox:
    node: Any = SimpleNamespace(
        is_trusted=lambda key: not trusted or key in trusted,
        options=SimpleNamespace(trusted_keys=trusted))
    inbox = Inbox(node, downloader=None, changed=lambda: None,  # type: ignore[arg-type]
                  dest=lambda: tmp_path, policy=policy or AcceptPolicy(),
                  free_space=lambda _folder: free)
    inbox.told = []  # type: ignore[attr-defined]

    async def tell(record: Any, request: Any) -> bool:  # what would go to the sender
        inbox.told.append(request)  # type: ignore[attr-defined]
        return True

    inbox._tell = tell  # type: ignore[method-assign]
    return inbox


def _decline_all(inbox: Inbox) -> None:
    for offer in inbox.current:
        if offer.state is IncomingState.PENDING:
            inbox.decline(offer.offer)


def _offer(*paths: str, size: int = 10) -> tuple[OfferRequest, ...]:
    entries = [OfferEntry(path, size, CONTENT) for path in paths or ("a.txt",)]
    return split_offer(FolderId.new(), 8000, "label", entries)


async def _verdict(inbox: Inbox, parts: tuple[OfferRequest, ...], key: bytes = KEY) -> Any:
    reply = None
    for part in parts:
        reply = await inbox.offer_part(key, "127.0.0.1", part)
        if reply.status is not OfferStatus.PART_RECEIVED:
            break
    assert reply is not None
    return reply


async def test_an_untrusted_key_is_refused_before_any_prompt(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path, trusted=frozenset({OTHER}), policy=AcceptPolicy(auto_all=True))
    reply = await _verdict(inbox, _offer())
    assert (reply.status, reply.reason) == (OfferStatus.REFUSED, "not trusted")
    assert inbox.current == ()


async def test_offers_are_rate_limited_per_host(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path)
    for _ in range(3):
        assert (await _verdict(inbox, _offer())).status is OfferStatus.PENDING
    refused = await _verdict(inbox, _offer())
    assert (refused.status, refused.reason) == (OfferStatus.REFUSED, "too many offers")
    assert (await _verdict(inbox, _offer(), OTHER)).status is OfferStatus.PENDING
    # Declined ones free their place, but not more than ten a minute.
    _decline_all(inbox)
    for _ in range(7):
        assert (await _verdict(inbox, _offer())).status is OfferStatus.PENDING
        _decline_all(inbox)
    assert (await _verdict(inbox, _offer())).reason == "too many offers"
    assert len([o for o in inbox.current if o.from_key == KEY]) == 10
    await asyncio.sleep(0)  # (the answers told)
    assert len(inbox.told) == 11  # type: ignore[attr-defined]


async def test_offers_being_collected_at_once_are_capped(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path)
    senders = [bytes([n]) * 32 for n in range(MAX_COLLECTING + 1)]
    big = [_offer(*(f"f{i:05d}" for i in range(3000))) for _ in senders]
    for key, parts in zip(senders[:-1], big, strict=False):
        assert (await inbox.offer_part(key, "h", parts[0])).status is OfferStatus.PART_RECEIVED
    refused = await inbox.offer_part(senders[-1], "h", big[-1][0])
    assert (refused.status, refused.reason) == (OfferStatus.REFUSED, "too many offers")
    # One finished frees a place.
    assert (await inbox.offer_part(senders[0], "h", big[0][1])).status is OfferStatus.PENDING
    assert (await inbox.offer_part(senders[-1], "h", big[-1][0])).status is (
        OfferStatus.PART_RECEIVED)
    _decline_all(inbox)


async def test_bad_names_and_parts_out_of_order_are_refused(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path)
    for paths, why in ((("../etc/passwd",), "not allowed"), (("a", "a/b"), "file and as a folder"),
                       ((".x.mfsync-part",), "partial downloads")):
        reply = await _verdict(inbox, _offer(*paths))
        assert reply.status is OfferStatus.REFUSED and why in reply.reason, reply
    parts = _offer(*(f"f{i:05d}" for i in range(5000)))
    assert len(parts) == 3
    assert (await inbox.offer_part(KEY, "h", parts[0])).status is OfferStatus.PART_RECEIVED
    reply = await inbox.offer_part(KEY, "h", parts[2])
    assert reply.status is OfferStatus.REFUSED and "was due" in reply.reason
    assert inbox.current == ()
    # A whole offer once more under the same id: refused, the first stays as it was.
    first = _offer()
    assert (await _verdict(inbox, first)).status is OfferStatus.PENDING
    assert (await _verdict(inbox, first)).reason == "this offer was made already"
    _decline_all(inbox)


async def test_too_big_for_the_disk_is_refused_with_both_sizes(tmp_path: Path) -> None:
    inbox = _inbox(tmp_path, policy=AcceptPolicy(auto_all=True), free=3_100_000_000)
    reply = await _verdict(inbox, _offer("a", "b", size=6_200_000_000))
    assert (reply.status, reply.reason) == (OfferStatus.REFUSED, "needs 12.4 GB, 3.1 GB free")
    assert inbox.current == ()


async def test_a_pending_offer_expires_and_a_sender_may_cancel_its_own_only(
        tmp_path: Path) -> None:
    inbox = _inbox(tmp_path)
    inbox.answer_timeout = 0.05
    told = inbox.told  # type: ignore[attr-defined]
    offer = (await _verdict(inbox, _offer())).offer
    await asyncio.sleep(0.2)
    [expired] = inbox.current
    assert (expired.state, expired.reason) == (IncomingState.DECLINED, "no answer")
    assert [(r.offer, r.accepted, r.reason) for r in told] == [(offer, False, "no answer")]
    inbox.answer_timeout = 60
    offer = (await _verdict(inbox, _offer())).offer
    assert not inbox.cancelled(OTHER, CancelRequest(offer, "forged"))
    assert inbox.cancelled(KEY, CancelRequest(offer, "changed my mind"))
    assert inbox.current[-1].reason == "cancelled by the sender: changed my mind"
    with pytest.raises(LookupError):
        inbox.accept(offer)


def test_the_policy() -> None:
    trusted = frozenset({KEY})
    assert AcceptPolicy().accepts(KEY, trusted)
    assert not AcceptPolicy().accepts(OTHER, trusted)
    assert not AcceptPolicy(auto_trusted=False).accepts(KEY, trusted)
    assert AcceptPolicy(auto_trusted=False, accept_from=frozenset({OTHER})).accepts(OTHER, trusted)
    assert AcceptPolicy(auto_all=True).accepts(OTHER, frozenset())
    assert not AcceptPolicy().accepts(KEY, frozenset())  # an empty list trusts nobody here


@pytest.mark.parametrize(("size", "text"), [(0, "0 B"), (999, "999 B"), (12_400_000, "12.4 MB"),
                                            (3_100_000_000, "3.1 GB")])
def test_size_text(size: int, text: str) -> None:
    assert size_text(size) == text
