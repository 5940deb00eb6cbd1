"""Syncthing for benchmarks/versus.py: install it, make a key, start it inside a host namespace,
configure it through its REST API only, and wait until two devices are connected and idle.

The configuration (``SAFE_OPTIONS``): no global discovery, no local discovery broadcasts, no
relays, no NAT traversal, no usage or crash reporting, no upgrades; listening on TCP 22000 only;
the GUI/REST API on 127.0.0.1 inside the host's namespace (reached with
``_netns.connect_in_netns``). Devices are added with their static address
``tcp://ADDRESS:22000``; one folder is shared by both, ``sendreceive``, with Syncthing's
default watcher settings unless told otherwise (``folder_config``).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import BenchError, tail
from _netns import connect_in_netns, worker_pid

__all__ = [
    "FOLDER_ID",
    "SAFE_OPTIONS",
    "Syncthing",
    "api_key",
    "device_config",
    "ensure_installed",
    "folder_config",
    "is_temp_name",
    "parse_device_id",
]

GUI_PORT = 8384
LISTEN_PORT = 22000
FOLDER_ID = "bench"
#: Options set through PATCH /rest/config/options before anything is shared.
SAFE_OPTIONS: dict[str, Any] = {
    "globalAnnounceEnabled": False,
    "localAnnounceEnabled": False,
    "relaysEnabled": False,
    "natEnabled": False,
    "urAccepted": -1,
    "crashReportingEnabled": False,
    "autoUpgradeIntervalH": 0,
    "startBrowser": False,
    "listenAddresses": [f"tcp://0.0.0.0:{LISTEN_PORT}"],
}
READY_TIMEOUT = 60.0
CONNECT_TIMEOUT = 90.0

_DEVICE_ID = re.compile(r"Device ID:\s*([A-Z0-9]{7}(?:-[A-Z0-9]{7}){7})")


def ensure_installed() -> str:
    """The path of ``syncthing``; installs Debian's package first when missing and root."""
    found = shutil.which("syncthing")
    if found:
        return found
    if os.geteuid() != 0:
        raise BenchError("syncthing is not installed (apt-get install syncthing, as root)")
    print("installing syncthing (apt-get install -y syncthing) ...", flush=True)
    subprocess.run(["apt-get", "install", "-y", "syncthing"], check=True, timeout=600,
                   stdout=subprocess.DEVNULL, env={**os.environ,
                                                   "DEBIAN_FRONTEND": "noninteractive"})
    found = shutil.which("syncthing")
    if not found:
        raise BenchError("apt-get install syncthing did not give a syncthing command")
    return found


def parse_device_id(text: str) -> str:
    """The device ID in ``syncthing generate``'s output. BenchError if there is none."""
    m = _DEVICE_ID.search(text)
    if m is None:
        raise BenchError(f"no device ID in syncthing's output: {text[-300:]!r}")
    return m.group(1)


def api_key(config_xml: str) -> str:
    """The REST API key of a Syncthing config.xml (``<gui><apikey>``)."""
    node = ET.fromstring(config_xml).find("./gui/apikey")
    if node is None or not (node.text or "").strip():
        raise BenchError("config.xml has no <gui><apikey>")
    return (node.text or "").strip()


def device_config(device_id: str, name: str, address: str) -> dict[str, Any]:
    """The body of POST /rest/config/devices for a peer reached at ``address``."""
    return {
        "deviceID": device_id,
        "name": name,
        "addresses": [f"tcp://{address}:{LISTEN_PORT}"],
        "compression": "metadata",  # Syncthing's default
        "introducer": False,
        "autoAcceptFolders": False,
        "paused": False,
    }


def folder_config(path: Path, device_ids: list[str],
                  watcher_delay_s: int | None = None) -> dict[str, Any]:
    """The body of POST /rest/config/folders: one sendreceive folder shared by ``device_ids``.

    Left at Syncthing's defaults on purpose (this is how people run it): the file system
    watcher on, with its 10 s delay (``fsWatcherDelayS``: changes are gathered for 10 s before
    a scan), a full rescan every hour, copiers/hashers chosen by Syncthing. ``watcher_delay_s``
    replaces the watcher delay (versus.py's second new-file line, with 1 s, to be fair)."""
    body: dict[str, Any] = {
        "id": FOLDER_ID,
        "label": FOLDER_ID,
        "path": str(path),
        "type": "sendreceive",
        "devices": [{"deviceID": d} for d in device_ids],
    }
    if watcher_delay_s is not None:
        body["fsWatcherDelayS"] = watcher_delay_s
    return body


def is_temp_name(name: str) -> bool:
    """Syncthing's temp files on Linux: ``.syncthing.NAME.tmp`` (lib/fs/tempname.go)."""
    return name.startswith(".syncthing.") and name.endswith(".tmp")


@dataclass
class Syncthing:
    """One ``syncthing serve`` inside a host of the LAN (``host``: a netns.Host)."""

    host: Any
    home: Path
    log: Path
    exe: str
    device_id: str = ""
    key: str = ""
    proc: subprocess.Popen[bytes] | None = None
    pid: int = 0  #: the process doing the work (measured)
    env: dict[str, str] = field(default_factory=dict)

    def generate(self) -> None:
        """``syncthing generate``: a key, a certificate and a config.xml in ``home``."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
                    "STNODEFAULTFOLDER": "1", "STNOUPGRADE": "1", "LANG": "C.UTF-8"}
        done = self.host.run([self.exe, "generate", "--home", str(self.home),
                              "--no-default-folder"], env=self.env, timeout=60, text=True)
        if done.returncode != 0:
            raise BenchError(f"syncthing generate failed: {done.stderr}")
        self.device_id = parse_device_id(done.stdout + done.stderr)
        self.key = api_key((self.home / "config.xml").read_text())

    def start(self) -> None:
        """``syncthing serve`` (no browser, no monitor process, no upgrades), GUI/REST on
        127.0.0.1 inside the namespace; returns when the REST API answers."""
        with self.log.open("ab") as out:
            self.proc = self.host.popen(
                [self.exe, "serve", "--no-browser", "--no-restart", "--no-upgrade",
                 "--no-default-folder", "--home", str(self.home),
                 f"--gui-address=http://127.0.0.1:{GUI_PORT}"],
                env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            self.check_alive()
            try:
                if self.request("GET", "/rest/system/ping").get("ping") == "pong":
                    break
            except (OSError, http.client.HTTPException, ValueError):
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"syncthing's REST API did not answer:\n{tail(self.log)}")
            time.sleep(0.2)
        assert self.proc is not None
        self.pid = worker_pid(self.proc.pid, wait=0.5)

    def check_alive(self) -> None:
        """BenchError if the process exited."""
        if self.proc is not None and self.proc.poll() is not None:
            raise BenchError(f"syncthing exited with {self.proc.returncode}:\n{tail(self.log)}")

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One REST call (JSON in and out) from inside the host's namespace."""
        conn = http.client.HTTPConnection("127.0.0.1", GUI_PORT, timeout=15)
        conn.sock = connect_in_netns(self.host.name, "127.0.0.1", GUI_PORT)
        try:
            data = json.dumps(body).encode() if body is not None else None
            headers = {"X-API-Key": self.key}
            if data is not None:
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            text = resp.read().decode("utf-8", errors="replace")
        finally:
            conn.close()
        if resp.status >= 300:
            raise BenchError(f"syncthing {method} {path}: {resp.status} {text.strip()}")
        return json.loads(text) if text.strip() else {}

    def configure(self, peers: list[tuple[str, str, str]], folder: Path,
                  watcher_delay_s: int | None) -> None:
        """Options, the peer devices ((device ID, name, address) each) and the folder shared
        with all of them, through the REST API; restarts Syncthing when it says a setting
        needs it."""
        self.request("PATCH", "/rest/config/options", SAFE_OPTIONS)
        for peer_id, peer_name, peer_address in peers:
            self.request("POST", "/rest/config/devices",
                         device_config(peer_id, peer_name, peer_address))
        (folder / ".stfolder").mkdir(parents=True, exist_ok=True)
        self.request("POST", "/rest/config/folders",
                     folder_config(folder, [self.device_id, *(p[0] for p in peers)],
                                   watcher_delay_s))
        if self.request("GET", "/rest/config/restart-required").get("requiresRestart"):
            self.stop()
            self.start()

    def wait_connected(self, peer_id: str) -> None:
        """Until the peer is connected and the folder is idle (its first scan done)."""
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while True:
            self.check_alive()
            conns = self.request("GET", "/rest/system/connections").get("connections", {})
            status = self.request("GET", f"/rest/db/status?folder={FOLDER_ID}")
            if conns.get(peer_id, {}).get("connected") and status.get("state") == "idle":
                return
            if time.monotonic() > deadline:
                raise BenchError(f"syncthing did not connect to its peer:\n{tail(self.log)}")
            time.sleep(0.2)

    def wait_in_sync(self, peer_id: str) -> None:
        """Until the peer holds everything this side has (its completion is 100 %)."""
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while True:
            self.check_alive()
            done = self.request("GET", f"/rest/db/completion?folder={FOLDER_ID}"
                                       f"&device={peer_id}")
            status = self.request("GET", f"/rest/db/status?folder={FOLDER_ID}")
            if done.get("completion") == 100 and status.get("needTotalItems", 1) == 0 \
                    and status.get("state") == "idle":
                return
            if time.monotonic() > deadline:
                raise BenchError(f"syncthing and its peer did not agree:\n{tail(self.log)}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Shut down through the API, else SIGTERM/SIGKILL the process group (by pid)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.request("POST", "/rest/system/shutdown")
            self.proc.wait(timeout=20)
        except (OSError, BenchError, http.client.HTTPException, subprocess.TimeoutExpired):
            self.host.terminate(self.proc)
