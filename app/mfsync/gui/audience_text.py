"""A folder's audience (who may see it) for people, and the hosts one can pick for it.

The folders table's Devices column and the "Share with…" dialog both say who sees a folder:
``describe_audience`` is the one place that words it. ``candidate_hosts`` is the list the
dialog offers: the trusted keys, the hosts seen on the network and the keys the folder names
already, each under the name people know it by. No Qt here.
"""

from dataclasses import dataclass

from mfsync.audience import Audience, AudienceKind
from mfsync.crypto.keys import short_key
from mfsync.engine.service import ServiceStatus
from mfsync.gui.i18n import tr

__all__ = ["MAX_NAMED", "Candidate", "candidate_hosts", "describe_audience", "key_label"]

#: The most keys named one by one before the rest are counted ("a, b, c and 2 more").
MAX_NAMED = 3


def key_label(status: ServiceStatus, key: bytes) -> str:
    """A key as people know it: the name configured for it, else the name a host holding it
    announces, else the short key."""
    configured = status.name_of(key)
    if configured:
        return configured
    announced = next((p.name for p in status.node.peers
                      if key in (p.key, p.announced_key) and p.name), "")
    return announced or short_key(key)


def describe_audience(audience: Audience | None, status: ServiceStatus) -> str:
    """Who sees a folder, in a few words: ``everyone``, ``trusted keys (3)``, ``laptop,
    office-pc``, ``nobody else``; None (the folder names no devices) is the default for the
    trust list in force."""
    if audience is None:
        audience = Audience.default_for(status.trusted_keys)
    if audience.kind is AudienceKind.EVERYONE:
        return tr("everyone")
    if audience.kind is AudienceKind.TRUSTED:
        return tr("trusted keys ({count})").format(count=len(status.trusted_keys))
    if not audience.keys:
        return tr("nobody else")
    names = sorted((key_label(status, k) for k in audience.keys), key=str.casefold)
    if len(names) <= MAX_NAMED:
        return ", ".join(names)
    return tr("{names} and %n more", "", len(names) - MAX_NAMED).format(
        names=", ".join(names[:MAX_NAMED]))


@dataclass(frozen=True, slots=True)
class Candidate:
    """A host one may share a folder with: its key, its name for people, and where it is
    known from (``trusted``: on the trust list; ``seen``: on the network now)."""

    key: bytes
    label: str
    trusted: bool
    seen: bool


def candidate_hosts(status: ServiceStatus, audience: Audience | None) -> list[Candidate]:
    """The hosts the "Share with…" list offers, by name (the unnamed last): the trusted keys,
    the hosts seen (their proven key, else the one they announce) and the keys ``audience`` lists
    already (so that none is dropped unseen); never our own key."""
    seen = {k for p in status.node.peers for k in (p.key or p.announced_key,) if k}
    chosen = audience.keys if audience is not None else frozenset()
    keys = (status.trusted_keys | seen | chosen) - {status.own_key}
    candidates = [Candidate(k, key_label(status, k), k in status.trusted_keys, k in seen)
                  for k in keys]
    return sorted(candidates, key=lambda c: (c.label == short_key(c.key), c.label.casefold()))
