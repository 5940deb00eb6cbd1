"""Fixtures and gating for the end-to-end tests, which run real processes in network namespaces.

Every test collected under ``tests/e2e`` gets the ``e2e`` marker. Where network namespaces cannot
be used (not root, no iproute2, ``ip netns add`` refused) those tests are skipped with the reason
-- unless ``MFSYNC_REQUIRE_E2E=1`` is set (as CI does), in which case each of them fails with it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from netns import Lan, netns_available

# A test runner started in the background by a shell without job control (`./test &`, nohup)
# inherits SIGINT ignored, and an ignored signal stays ignored across exec: the hosts' processes
# would then shrug off the Ctrl-C that tests send them. A handler is reset to the default on
# exec, so installing Python's own makes every process started here take Ctrl-C as from a
# terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

_E2E_DIR = Path(__file__).resolve().parent
REQUIRE_ENV = "MFSYNC_REQUIRE_E2E"


def _required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip() == "1"


def _is_e2e(item: pytest.Item) -> bool:
    try:
        Path(item.path).resolve().relative_to(_E2E_DIR)
    except ValueError:
        return False
    return True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark this directory's tests ``e2e``; skip them when namespaces are unavailable.

    (This hook sees the whole session's items, hence the path filter.)
    """
    e2e_items = [item for item in items if _is_e2e(item)]
    if not e2e_items:
        return
    reason = netns_available()
    for item in e2e_items:
        item.add_marker(pytest.mark.e2e)
        if reason is not None and not _required():
            item.add_marker(pytest.mark.skip(reason=f"network namespaces unavailable: {reason}"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """With ``MFSYNC_REQUIRE_E2E=1``, an e2e test fails (never skips) without namespaces."""
    if _is_e2e(item) and _required():
        reason = netns_available()
        if reason is not None:
            pytest.fail(
                f"network namespaces unavailable and {REQUIRE_ENV}=1: {reason}", pytrace=False
            )


@pytest.fixture
def lan_factory() -> Iterator[Callable[[int], Lan]]:
    """A callable ``make(n) -> Lan`` building LANs of ``n`` hosts, all closed at teardown."""
    lans: list[Lan] = []

    def make(hosts: int) -> Lan:
        reason = netns_available()
        if reason is not None:
            pytest.fail(f"network namespaces unavailable: {reason}", pytrace=False)
        lan = Lan(hosts)
        lans.append(lan)
        return lan

    yield make
    errors: list[BaseException] = []
    for lan in reversed(lans):
        try:
            lan.close()
        except Exception as exc:  # close every LAN before reporting
            errors.append(exc)
    if errors:
        raise errors[0]
