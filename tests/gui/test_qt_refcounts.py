"""Guards against a Qt binding that leaks references to None/True/False (PySide6 6.12.0 does:
on Python 3.11 the interpreter aborts once they reach zero, minutes into a transfer)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, QTimer, Signal


class _Emitter(QObject):
    fired = Signal(object)


def test_emits_and_void_calls_keep_the_singletons_alive(qapp) -> None:
    emitter = _Emitter()
    timer = QTimer()
    calls = 200  # few enough that a leaking binding loses references without aborting here
    before = (sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False))
    for _ in range(calls):
        timer.setInterval(5)
        emitter.fired.emit(1)
    after = (sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False))
    lost = [b - a for b, a in zip(before, after, strict=True)]
    assert max(lost) < calls // 10, f"the Qt binding lost references to None/True/False: {lost}"
