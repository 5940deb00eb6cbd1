"""A freedesktop notification service for tests, run as its own process on a private bus.

``python fake_notification_server.py ADDRESS [CAPABILITY…]`` owns
``org.freedesktop.Notifications`` on the bus at ADDRESS and prints one line per call
(``notify <id> <repr of the arguments>``, ``close <id>``) and ``ready`` once it serves. A line
``invoke <id> <key>`` on its standard input emits ``ActionInvoked(id, key)`` as a real service
does when a button is clicked. The signatures are the specification's: a call typed otherwise
(a signed id, say) is not answered by these slots, as a real service would refuse it.
"""

import sys

from PySide6.QtCore import ClassInfo, QCoreApplication, QObject, QSocketNotifier, Signal, Slot
from PySide6.QtDBus import QDBusConnection


@ClassInfo({"D-Bus Interface": "org.freedesktop.Notifications"})
class FakeNotifications(QObject):
    """The methods and the signal of the specification (version 1.2)."""

    ActionInvoked = Signal("uint", str)

    def __init__(self, capabilities: list[str]) -> None:
        super().__init__()
        self.capabilities = capabilities
        self.last_id = 0

    @Slot(result="QStringList")
    def GetCapabilities(self) -> list[str]:
        return self.capabilities

    @Slot(str, "uint", str, str, str, "QStringList", "QVariantMap", int, result="uint")
    def Notify(self, app: str, replaces: int, icon: str, summary: str, body: str,  # noqa: PLR0917
               actions: list[str], hints: dict[str, object], timeout: int) -> int:
        self.last_id += 1
        print("notify", self.last_id,
              repr((app, replaces, icon, summary, body, list(actions), timeout)), flush=True)
        return self.last_id

    @Slot("uint")
    def CloseNotification(self, notification_id: int) -> None:
        print("close", notification_id, flush=True)


def main() -> None:
    address, capabilities = sys.argv[1], sys.argv[2:]
    app = QCoreApplication([])
    bus = QDBusConnection.connectToBus(address, "fake-notifications")
    service = FakeNotifications(capabilities)
    options = (QDBusConnection.RegisterOption.ExportAllSlots
               | QDBusConnection.RegisterOption.ExportAllSignals)
    if not (bus.registerObject("/org/freedesktop/Notifications", service, options)
            and bus.registerService("org.freedesktop.Notifications")):
        sys.exit("cannot register on the bus")
    commands = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)

    def command() -> None:
        line = sys.stdin.readline()
        if not line:
            app.quit()
            return
        word, *rest = line.split()
        if word == "invoke":
            service.ActionInvoked.emit(int(rest[0]), rest[1])

    commands.activated.connect(command)
    print("ready", flush=True)
    app.exec()


if __name__ == "__main__":
    main()
