"""The preprocessor defines that installer/windows/mfsync.iss takes: ``/DName=value`` arguments.

The script hard-codes none of these: the version, application id and ports come from mfsync
itself (through ``layout``), the folders from ``layout``. ``build.py inno-defines`` prints them;
installer/windows/build.ps1 hands them to ISCC.
"""

from __future__ import annotations

import layout

__all__ = ["defines", "values"]


def values() -> dict[str, str]:
    """Each define's name and value; ``MyIcon`` only when ``render_icons.py`` drew the .ico."""
    tcp, udp = layout.ports()
    found = {
        "MyAppVersion": layout.version(),
        "MyAppId": layout.app_id(),
        "MyTcpPort": str(tcp),
        "MyUdpPort": str(udp),
        "MyBundleDir": str(layout.BUNDLE),
        "MyOutputDir": str(layout.DIST),
    }
    icon = layout.ICONS / "mfsync.ico"
    if icon.is_file():
        found["MyIcon"] = str(icon)
    return found


def defines() -> list[str]:
    """The ISCC arguments, one ``/DName=value`` each (a value may hold spaces: pass each as one
    argument, never through a shell's word splitting)."""
    return [f"/D{name}={value}" for name, value in values().items()]


if __name__ == "__main__":
    print("\n".join(defines()))
