"""Locks by key, each kept only while someone holds it or waits for it.

A downloader locks every name it writes (names that differ only in case are one file on a
case-insensitive file system). A dict of one ``asyncio.Lock`` per name ever written grew by a
lock for every file a sync ever fetched (100,000 files: about 25 MB); ``KeyedLocks`` forgets a
key's lock as soon as nobody holds it or waits for it.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable
from typing import Generic, TypeVar

__all__ = ["KeyedLocks"]

_K = TypeVar("_K", bound=Hashable)


class KeyedLocks(Generic[_K]):
    """One lock per key, made when first asked for and dropped when its last user leaves."""

    def __init__(self) -> None:
        #: Each key's lock and how many tasks hold it or wait for it.
        self._locks: dict[_K, tuple[asyncio.Lock, list[int]]] = {}

    def __len__(self) -> int:
        """How many keys are held or waited for."""
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, key: _K) -> AsyncIterator[None]:
        """Hold ``key``'s lock for the ``async with`` block (waiting for it first)."""
        entry = self._locks.get(key)
        if entry is None:
            entry = self._locks[key] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[key]
