"""Sending files to a host (issue 16) on loopback: two real services, each with its server; the
sender's offer travels to the receiver's server, the receiver fetches the files from the
sender's server as a temporary folder only it may see, and says so with a receipt."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from loopback import make_tree

import mfsync.engine.outbox as outbox_module
from mfsync.config import Config, load_config
from mfsync.crypto.keys import Identity
from mfsync.defaults import FolderMode
from mfsync.engine import offer_receive
from mfsync.engine.inbox import AcceptPolicy, IncomingOffer, IncomingState
from mfsync.engine.node import NodeOptions
from mfsync.engine.outbox import OutgoingState, OutgoingStatus
from mfsync.engine.service import RunPlan, Service, ServiceError
from mfsync.engine.transfer_status import TransferState
from mfsync.folder_config import FolderConfig
from mfsync.net.channel import PeerRefused, SecureChannel, open_channel
from mfsync.net.client import request_folders, request_index, send_answer, send_cancel, send_receipt
from mfsync.protocol.folder_id import DEFAULT_FOLDER, FolderId
from mfsync.protocol.messages import ErrorCode, Hello
from mfsync.protocol.offer_messages import AnswerRequest, CancelRequest, OfferEntry, ReceiptRequest

ServiceFactory = Callable[..., Any]


@pytest.fixture
async def make_service(tmp_path: Path) -> AsyncIterator[ServiceFactory]:
    """Start services on loopback (no discovery), each serving, none sharing a folder; every
    service is stopped at teardown."""
    services: list[Service] = []

    async def make(name: str, takes_offers: bool = True, **config: Any) -> Service:
        options = NodeOptions(identity=Identity.generate(), name=name, discovery=False,
                              listen_host="127.0.0.1", tcp_port=0, serve=True,
                              handshake_timeout=3.0, state_dir=tmp_path / f"{name}-state")
        service = Service(options, Config(**config),
                          run=RunPlan(command=name, takes_offers=takes_offers))
        service.offers.set_destination(tmp_path / f"{name}-dest")
        services.append(service)
        await service.start()
        return service

    yield make
    for service in reversed(services):
        await service.stop()


def _key(service: Service) -> bytes:
    return service.node.identity.public_key


def _address(service: Service) -> tuple[str, int]:
    port = service.status.node.tcp_port
    assert port is not None
    return ("127.0.0.1", port)


def _send(sender: Service, receiver: Service, *paths: Path) -> FolderId:
    return sender.offers.send(list(paths), _key(receiver), _address(receiver))


async def _final(sender: Service, offer: FolderId, timeout: float = 30.0) -> OutgoingStatus:
    return await asyncio.wait_for(sender.offers.wait(offer), timeout)


async def _until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _pending(receiver: Service) -> IncomingOffer:
    return await _until(lambda: next((o for o in receiver.offers.incoming
                                      if o.state is IncomingState.PENDING), None))


def _digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _partials(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".mfsync-part")]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    files = {f"2024/img{i:02d}.jpg": os.urandom(1000 + i) for i in range(12)}
    files["2024/deep/er/raw.bin"] = os.urandom(300_000)
    files["notes.txt"] = b"the trip\n"
    return make_tree(tmp_path / "out" / "Photos", files)


async def test_auto_accepted_offer_arrives_verified_and_a_second_gets_another_name(
        make_service, photos: Path, tmp_path: Path) -> None:
    receiver = await make_service("office-pc", accept_from_anyone=True)
    sender = await make_service("laptop")
    loose = make_tree(tmp_path / "elsewhere", {"report.pdf": b"%PDF report"}) / "report.pdf"
    offer = _send(sender, receiver, photos, loose)
    final = await _final(sender, offer)
    assert final.state is OutgoingState.DELIVERED, final
    assert (final.files, final.label, final.text) == (15, "15 files", "delivered to office-pc")
    assert final.bytes_sent >= final.bytes == sum(
        p.stat().st_size for p in [*photos.rglob("*"), loose] if p.is_file())
    dest = tmp_path / "office-pc-dest"
    assert _digests(dest / "Photos") == _digests(photos)
    assert (dest / "report.pdf").read_bytes() == b"%PDF report"
    assert not _partials(dest)
    received = await _until(lambda: [o for o in receiver.offers.incoming
                                     if o.state is IncomingState.RECEIVED])
    assert [(o.offer, o.from_key, o.files) for o in received] == [(offer, _key(sender), 15)]
    # The offer's folder is gone from the sender's server once delivered, and the sender from
    # the receiver's peers (it was one for this offer only), its files with it.
    assert not sender.node.offer_views.serves(offer)
    await _until(lambda: not receiver.node.status.peers)
    assert not receiver.node.status.files and not receiver.node.known_hosts.addresses()
    # The same folder again: a second name, never over the first; a loose file of another
    # content beside the first gets a conflict name (the same content is there already).
    loose.write_bytes(b"%PDF report, second edition")
    again = await _final(sender, _send(sender, receiver, photos, loose))
    assert again.state is OutgoingState.DELIVERED, again
    assert _digests(dest / "Photos (2)") == _digests(photos)
    assert (dest / "report.pdf").read_bytes() == b"%PDF report"
    [other] = [p for p in dest.glob("report*") if p.name != "report.pdf"]
    assert other.read_bytes() == b"%PDF report, second edition"
    assert not _partials(dest)


async def test_pending_offer_is_accepted_by_the_user(make_service, photos: Path,
                                                     tmp_path: Path) -> None:
    receiver = await make_service("office-pc")  # no trust list: nobody is trusted, so ask
    sender = await make_service("laptop")
    offer = _send(sender, receiver, photos / "notes.txt")
    pending = await _pending(receiver)
    assert (pending.offer, pending.label, pending.files, pending.first_entries) == (
        offer, "notes.txt", 1, (("notes.txt", 9),))
    waiting = await _until(lambda: sender.offers.outbox.status(offer).state
                           is OutgoingState.WAITING and sender.offers.outbox.status(offer))
    assert waiting.text == "waiting for office-pc to accept"
    receiver.offers.accept(offer)
    final = await _final(sender, offer)
    assert final.state is OutgoingState.DELIVERED, final
    assert (tmp_path / "office-pc-dest" / "notes.txt").read_bytes() == b"the trip\n"
    with pytest.raises(ServiceError):
        receiver.offers.accept(offer)  # answered already


async def test_a_decline_reaches_the_sender(make_service, photos: Path, tmp_path: Path) -> None:
    receiver = await make_service("office-pc")
    sender = await make_service("laptop")
    offer = _send(sender, receiver, photos)
    await _pending(receiver)
    receiver.offers.decline(offer, "not now")
    final = await _final(sender, offer)
    assert (final.state, final.reason, final.text) == (
        OutgoingState.DECLINED, "not now", "declined: not now")
    assert not (tmp_path / "office-pc-dest").exists() or not any(
        (tmp_path / "office-pc-dest").iterdir())


async def test_no_answer_counts_as_declined_on_both_sides(make_service, photos: Path) -> None:
    receiver = await make_service("office-pc")
    sender = await make_service("laptop")
    receiver.offers.inbox.answer_timeout = 0.5
    offer = _send(sender, receiver, photos)
    final = await _final(sender, offer)
    assert (final.state, final.reason) == (OutgoingState.DECLINED, "no answer")
    [incoming] = receiver.offers.incoming
    assert (incoming.state, incoming.reason) == (IncomingState.DECLINED, "no answer")
    # The sender's own timeout: it gives up, and the receiver's prompt goes away.
    sender.offers.outbox.answer_timeout = 0.5
    receiver.offers.inbox.answer_timeout = 60.0
    offer = _send(sender, receiver, photos)
    final = await _final(sender, offer)
    assert (final.state, final.reason) == (OutgoingState.TIMED_OUT, "no answer")
    gone = await _until(lambda: next((o for o in receiver.offers.incoming if o.offer == offer
                                      and o.state is IncomingState.CANCELLED), None))
    assert gone.reason == "cancelled by the sender: no answer"


async def test_an_untrusted_sender_is_refused_without_a_prompt(make_service,
                                                                photos: Path) -> None:
    friend = Identity.generate()
    receiver = await make_service("office-pc", trusted_keys=frozenset({friend.public_key}),
                                  accept_from_anyone=True)
    sender = await make_service("laptop")
    final = await _final(sender, _send(sender, receiver, photos))
    assert final.state is OutgoingState.REFUSED, final
    assert "trust" in final.reason
    assert receiver.offers.incoming == ()


async def test_a_run_that_takes_no_offers_refuses_them(make_service, photos: Path) -> None:
    receiver = await make_service("sharer", takes_offers=False, accept_from_anyone=True)
    sender = await make_service("laptop")
    final = await _final(sender, _send(sender, receiver, photos))
    assert (final.state, final.reason) == (OutgoingState.REFUSED,
                                           "this host does not take offers")
    assert receiver.offers.incoming == ()
    receiver.offers.takes_offers = True
    final = await _final(sender, _send(sender, receiver, photos))
    assert final.state is OutgoingState.DELIVERED


async def test_an_offer_bigger_than_the_free_space_is_refused_with_the_reason(
        make_service, photos: Path, caplog: pytest.LogCaptureFixture) -> None:
    receiver = await make_service("office-pc", accept_from_anyone=True)
    sender = await make_service("laptop")
    receiver.offers.inbox.free_space = lambda _folder: 3_100
    with caplog.at_level(logging.INFO, logger="mfsync.offers"):
        final = await _final(sender, _send(sender, receiver, photos))
    assert final.state is OutgoingState.REFUSED, final
    assert final.reason.startswith("needs 31") and final.reason.endswith(", 3.1 kB free")
    assert any("refused an offer of Photos" in r.getMessage() and final.reason in r.getMessage()
               for r in caplog.records)
    assert receiver.offers.incoming == ()


async def test_a_sender_cancel_leaves_no_partial(make_service, tmp_path: Path,
                                                 throttle) -> None:
    throttle.delay = 0.05
    receiver = await make_service("office-pc", accept_from_anyone=True)
    sender = await make_service("laptop")
    big = make_tree(tmp_path / "out", {"big.bin": os.urandom(24 * 1024 * 1024)}) / "big.bin"
    offer = _send(sender, receiver, big)
    dest = tmp_path / "office-pc-dest"
    await _until(lambda: any(t.state is TransferState.DOWNLOADING and t.done > 0
                             for t in receiver.status.transfers.transfers), timeout=20)
    assert _partials(dest)
    sender.node.share_changed()  # (a new node status: an offer is not a file we share)
    await sender.node.wait_for_change(2.0)
    assert sender.node.status.local_files == 0
    sending = await _until(lambda: (s := sender.offers.outbox.status(offer)) is not None
                           and s.bytes_sent > 0 and s.speed and s)
    assert sending.state is OutgoingState.SENDING and sending.text == "sending to office-pc"
    assert sending.seconds_left is not None and sending.seconds_left > 0
    sender.offers.cancel(offer)
    final = await _final(sender, offer)
    assert final.state is OutgoingState.CANCELLED
    cancelled = await _until(lambda: next((o for o in receiver.offers.incoming
                                           if o.state is IncomingState.CANCELLED), None))
    assert cancelled.reason == "cancelled by the sender"
    await _until(lambda: not _partials(dest))
    assert not (dest / "big.bin").exists()


async def _open(service: Service, identity: Identity) -> SecureChannel:
    host, port = _address(service)
    return await open_channel(host, port, identity, hello=Hello(name="stranger"),
                              authorize=lambda _key: True, timeout=5)


async def test_forged_answers_receipts_and_cancels_get_no_such_folder(
        make_service, photos: Path) -> None:
    receiver = await make_service("office-pc")
    sender = await make_service("laptop")
    offer = _send(sender, receiver, photos)
    await _pending(receiver)
    stranger = Identity.generate()
    for service, request, send in (
            (sender, AnswerRequest(offer, True, ""), send_answer),
            (sender, ReceiptRequest(offer, 15, 1), send_receipt),
            (sender, CancelRequest(offer, "forged"), send_cancel),
            (receiver, CancelRequest(offer, "forged"), send_cancel),
            (sender, AnswerRequest(FolderId.new(), True, ""), send_answer)):
        channel = await _open(service, stranger)
        try:
            with pytest.raises(PeerRefused) as refused:
                await send(channel, request)  # type: ignore[operator]
            assert refused.value.code is ErrorCode.NO_SUCH_FOLDER
        finally:
            await channel.close()
    # The receiver may not answer with the sender's own key: still pending on both sides.
    assert sender.offers.outbox.status(offer).state is OutgoingState.WAITING
    assert [o.state for o in receiver.offers.incoming] == [IncomingState.PENDING]
    # Nor may a stranger fetch the offer's folder (it is the receiver's alone).
    channel = await _open(sender, stranger)
    try:
        assert offer not in {f.id for f in (await request_folders(channel)).folders}
        with pytest.raises(PeerRefused) as refused:
            await request_index(channel, folder=offer)
        assert refused.value.code is ErrorCode.NO_SUCH_FOLDER
    finally:
        await channel.close()


async def test_a_file_swapped_after_the_offer_is_refused(make_service, tmp_path: Path) -> None:
    receiver = await make_service("office-pc")
    sender = await make_service("laptop")
    path = make_tree(tmp_path / "out", {"a.bin": b"A" * 100_000}) / "a.bin"
    offer = _send(sender, receiver, path)
    await _pending(receiver)
    path.write_bytes(b"B" * 100_000)  # same size, other content, after it was offered
    os.utime(path, (time.time() + 5, time.time() + 5))
    receiver.offers.accept(offer)
    final = await _final(sender, offer, timeout=60)
    assert final.state is OutgoingState.CANCELLED, final
    assert "changed" in final.reason
    [incoming] = receiver.offers.incoming
    assert incoming.state is IncomingState.FAILED and "changed" in incoming.reason
    dest = tmp_path / "office-pc-dest"
    assert not (dest / "a.bin").exists() and not _partials(dest)


async def test_a_sender_serving_other_files_than_it_offered_is_refused(
        make_service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_split = outbox_module.split_offer

    def lying(offer, port, label, entries):  # the offer names another content than served
        forged = [OfferEntry(e.path, e.size, bytes(32)) for e in entries]
        return real_split(offer, port, label, forged)

    monkeypatch.setattr(outbox_module, "split_offer", lying)
    receiver = await make_service("office-pc", accept_from_anyone=True)
    sender = await make_service("laptop")
    path = make_tree(tmp_path / "out", {"a.bin": b"A" * 1000}) / "a.bin"
    final = await _final(sender, _send(sender, receiver, path))
    assert (final.state, final.reason) == (
        OutgoingState.CANCELLED, "cancelled by the receiver: the files changed: 'a.bin' is not "
        "what was offered")
    [incoming] = receiver.offers.incoming
    assert incoming.state is IncomingState.FAILED
    assert not (tmp_path / "office-pc-dest" / "a.bin").exists()


async def test_either_side_stopping_ends_the_offer_on_the_other(make_service,
                                                                photos: Path) -> None:
    receiver = await make_service("office-pc")
    sender = await make_service("laptop")
    offer = _send(sender, receiver, photos)
    await _pending(receiver)
    await receiver.stop()
    final = await _final(sender, offer)
    assert (final.state, final.reason) == (OutgoingState.DECLINED, "the receiver stopped")
    receiver = await make_service("office-pc-2")
    offer = _send(sender, receiver, photos)
    await _pending(receiver)
    await sender.stop()
    assert sender.offers.outbox.status(offer).state is OutgoingState.CANCELLED
    [ended] = receiver.offers.incoming
    assert (ended.state, ended.reason) == (IncomingState.CANCELLED,
                                           "cancelled by the sender: the sender stopped")


async def test_the_receiver_cancels_while_receiving(make_service, tmp_path: Path,
                                                     throttle) -> None:
    throttle.delay = 0.05
    receiver = await make_service("office-pc", accept_from_anyone=True)
    sender = await make_service("laptop")
    big = make_tree(tmp_path / "out", {"big.bin": os.urandom(16 * 1024 * 1024)}) / "big.bin"
    offer = _send(sender, receiver, big)
    dest = tmp_path / "office-pc-dest"
    await _until(lambda: _partials(dest), timeout=20)
    receiver.offers.cancel(offer, "changed my mind")
    final = await _final(sender, offer)
    assert (final.state, final.reason) == (OutgoingState.CANCELLED,
                                           "cancelled by the receiver: changed my mind")
    [ended] = receiver.offers.incoming
    assert (ended.state, ended.reason) == (IncomingState.CANCELLED, "changed my mind")
    await _until(lambda: not _partials(dest))
    assert not (dest / "big.bin").exists() and not sender.node.offer_views.serves(offer)
    with pytest.raises(ServiceError):
        receiver.offers.cancel(offer)


async def test_a_receiver_that_never_fetches_fails_the_offer(
        make_service, photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = await make_service("office-pc", accept_from_anyone=True)
    sender = await make_service("laptop")

    async def gone(*_args: Any, **_kwargs: Any) -> None:  # accepts, then never comes
        await asyncio.Event().wait()

    monkeypatch.setattr(receiver.offers.inbox, "_receive", gone)
    sender.offers.outbox.stall_timeout = 0.5
    final = await _final(sender, _send(sender, receiver, photos))
    assert (final.state, final.reason) == (OutgoingState.FAILED, "the receiver stopped fetching")


async def test_the_apps_settings_make_the_accept_policy(tmp_path: Path) -> None:
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps({"acceptFromTrusted": False}))
    config_path.chmod(0o600)
    options = NodeOptions(identity=Identity.generate(), discovery=False,
                          listen_host="127.0.0.1", tcp_port=0, state_dir=tmp_path / "state")
    app = Service(options, load_config(config_path, explicit=True), config_path=config_path)
    assert app.offers.takes_offers  # the app takes offers; a command-line run only if asked
    assert app.offers.policy == AcceptPolicy(auto_trusted=False, auto_all=False)
    await app.start()
    try:
        app.update_settings({"acceptFromAnyone": True, "acceptFromTrusted": True})
        assert app.offers.policy == AcceptPolicy(auto_trusted=True, auto_all=True)
        await app.saved()
        assert json.loads(config_path.read_text())["acceptFromAnyone"] is True
    finally:
        await app.stop()


async def test_a_receipt_that_does_not_get_through_is_sent_again(
        make_service, photos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offer_receive, "TELL_RETRY", 0.1)
    receiver = await make_service("office-pc", accept_from_anyone=True)
    sender = await make_service("laptop")
    sender.offers.outbox.stall_timeout = 3.0
    real_open = receiver.node.open_to
    calls: list[int] = []

    async def flaky(address: str, port: int, key: bytes) -> Any:
        calls.append(port)
        if len(calls) == 1:  # the receipt's first try: the link is down a moment
            raise OSError("network is unreachable")
        return await real_open(address, port, key)

    monkeypatch.setattr(receiver.node, "open_to", flaky)
    final = await _final(sender, _send(sender, receiver, photos))
    assert final.state is OutgoingState.DELIVERED, final
    assert len(calls) == 2


async def test_a_receiver_our_trust_list_does_not_name_sees_the_offer_only(
        tmp_path: Path, make_service, photos: Path) -> None:
    receiver = await make_service("office-pc")
    friend = Identity.generate()
    shared = make_tree(tmp_path / "shared", {"private.txt": b"for friends"})
    options = NodeOptions(identity=Identity.generate(), name="laptop", discovery=False,
                          listen_host="127.0.0.1", tcp_port=0, serve=True,
                          handshake_timeout=3.0, state_dir=tmp_path / "laptop-state")
    sender = Service(options, Config(trusted_keys=frozenset({friend.public_key})),
                     run=RunPlan(folders=(FolderConfig(shared.resolve(), FolderMode.SHARE),)))
    await sender.start()
    try:
        offer = _send(sender, receiver, photos)
        await _pending(receiver)
        for identity, listed in ((receiver.node.identity, {offer}),
                                 (friend, {DEFAULT_FOLDER})):
            channel = await _open(sender, identity)
            try:
                assert {f.id for f in (await request_folders(channel)).folders} == listed
            finally:
                await channel.close()
        channel = await _open(sender, receiver.node.identity)
        try:
            with pytest.raises(PeerRefused) as refused:
                await request_index(channel, folder=DEFAULT_FOLDER)
            assert refused.value.code is ErrorCode.NO_SUCH_FOLDER
        finally:
            await channel.close()
        receiver.offers.accept(offer)
        assert (await _final(sender, offer)).state is OutgoingState.DELIVERED
        with pytest.raises(PeerRefused):  # and once it is over, not even that
            await _open(sender, receiver.node.identity)
    finally:
        await sender.stop()
