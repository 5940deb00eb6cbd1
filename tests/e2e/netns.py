"""A throw-away LAN made of Linux network namespaces, for mfsync's end-to-end tests.

Topology of one :class:`Lan` with ``n`` hosts (every name starts with ``mfst-<pid>-<k>-<hex>``,
where ``pid`` is the creating process and ``10.213.<k>.0/24`` the LAN's private subnet)::

    namespace ...-br:  br0 (bridge, IGMP snooping off) -- p0, p1, ... (veth ends)
    namespace ...-h0:  lo, eth0 = 10.213.<k>.10/24, route 224.0.0.0/4 dev eth0   (peer of p0)
    namespace ...-h1:  lo, eth0 = 10.213.<k>.11/24, route 224.0.0.0/4 dev eth0   (peer of p1)

Nothing is ever connected to the root namespace: no address, route or interface of the machine
itself is touched, so no packet from a test can leave the machine. Every ``ip``/``tc`` call that
configures something names one of the harness's own namespaces (``ip -n mfst-...``).

Typical use::

    with Lan(3) as lan:
        a, b, c = lan.hosts
        server = b.popen([sys.executable, "-c", SERVER])
        done = a.run([sys.executable, "-c", CLIENT, b.address], timeout=30)
        c.drop_multicast()

Every process started through a :class:`Host` runs in a session (and process group) of its own;
on :meth:`Lan.close` each one still running gets SIGTERM, then SIGKILL after 5 s, then whatever
else is still inside the LAN's namespaces (e.g. daemonised grandchildren) gets the same, and the
namespaces are deleted. A crashed run leaves namespaces named after a pid that no longer exists;
:func:`cleanup_stale_namespaces` removes those (the first :class:`Lan` of a process calls it).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = [
    "NAME_PREFIX",
    "Host",
    "Lan",
    "cleanup_stale_namespaces",
    "list_harness_namespaces",
    "netns_available",
]

NAME_PREFIX = "mfst-"
"""Every namespace the harness creates starts with this."""

KILL_GRACE_S = 5.0
"""Seconds between SIGTERM and SIGKILL when processes are stopped."""

HOST_INTERFACE = "eth0"
"""Name of each host's veth end inside its namespace."""

MULTICAST_NET = "224.0.0.0/4"

_SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
_NAME_PID = re.compile(rf"^{re.escape(NAME_PREFIX)}(\d+)-")
_NAME_SUBNET = re.compile(rf"^{re.escape(NAME_PREFIX)}\d+-(\d+)-[0-9a-f]+-")
_LOCK_PATHS = (Path("/run/mfst-netns.lock"), Path("/tmp/mfst-netns.lock"))

# Classic BPF for a clsact filter in direct-action mode: "IPv4 with a destination in 224.0.0.0/4
# -> TC_ACT_SHOT (2), anything else -> TC_ACT_OK (0)". Loads are relative to the Ethernet header
# in both directions (cls_bpf pushes the MAC header back on ingress):
#   ldh [12]; jeq #0x800 ? next : pass; ldb [30] (first byte of the IPv4 destination);
#   and #0xf0; jeq #0xe0 ? drop : pass; drop: ret #2; pass: ret #0
_DROP_MULTICAST_CBPF = "7,40 0 0 12,21 0 4 2048,48 0 0 30,84 0 0 240,21 0 1 224,6 0 0 2,6 0 0 0"
_TC_PREF = "4913"


@functools.cache
def _find_tool(name: str) -> str | None:
    """Absolute path of a system tool, looking in the sbin directories too (PATH may lack them)."""
    found = shutil.which(name)
    if found:
        return found
    for d in _SBIN_DIRS:
        candidate = Path(d) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _ip_path() -> str:
    path = _find_tool("ip")
    if path is None:
        raise RuntimeError("the `ip` command (iproute2) is not installed")
    return path


def _run_tool(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a configuration command, raising RuntimeError with its stderr on failure."""
    proc = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"command failed ({proc.returncode}): {' '.join(argv)}: {proc.stderr.strip()}"
        )
    return proc


def _check_own(ns: str) -> None:
    """Refuse to configure anything but a namespace of this harness (never the root one)."""
    if not ns.startswith(NAME_PREFIX) or "/" in ns:
        raise ValueError(f"refusing to touch namespace {ns!r}: not created by this harness")


def _ip_in(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``ip -n NS ARGS``: configuration that is confined to one harness namespace."""
    _check_own(ns)
    return _run_tool([_ip_path(), "-n", ns, *args], check=check)


def _tc_in(ns: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``tc -n NS ARGS``: traffic control confined to one harness namespace."""
    _check_own(ns)
    tc = _find_tool("tc")
    if tc is None:
        raise RuntimeError("the `tc` command (iproute2) is not installed")
    return _run_tool([tc, "-n", ns, *args], check=check)


def _netns_add(ns: str) -> None:
    _check_own(ns)
    _run_tool([_ip_path(), "netns", "add", ns])


def _netns_del(ns: str) -> None:
    _check_own(ns)
    _run_tool([_ip_path(), "netns", "del", ns])


def _list_all_namespaces() -> list[str]:
    out = _run_tool([_ip_path(), "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def list_harness_namespaces() -> list[str]:
    """Names of all existing namespaces that look like this harness's (``mfst-*``)."""
    return [n for n in _list_all_namespaces() if n.startswith(NAME_PREFIX)]


def _namespace_pids(ns: str) -> list[int]:
    """Pids of the live processes inside a harness namespace."""
    _check_own(ns)
    proc = _run_tool([_ip_path(), "netns", "pids", ns], check=False)
    if proc.returncode != 0:
        return []
    return [int(tok) for tok in proc.stdout.split() if tok.isdigit()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_namespace(ns: str, grace: float = KILL_GRACE_S) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds, every process left inside ``ns``."""
    pids = _namespace_pids(ns)
    if not pids:
        return
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _namespace_pids(ns):
            return
        time.sleep(0.05)
    for pid in _namespace_pids(ns):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + grace
    while _namespace_pids(ns) and time.monotonic() < deadline:
        time.sleep(0.05)


def _delete_namespace(ns: str) -> None:
    """Empty and delete one harness namespace (its veth ends and the bridge go with it)."""
    _sweep_namespace(ns)
    _netns_del(ns)


def cleanup_stale_namespaces() -> list[str]:
    """Delete ``mfst-*`` namespaces whose creating process (the pid in the name) is gone.

    Namespaces of live processes, e.g. a harness instance running in parallel, are left alone.
    Returns the names that were removed.
    """
    removed: list[str] = []
    for ns in list_harness_namespaces():
        m = _NAME_PID.match(ns)
        if m is None or _pid_alive(int(m.group(1))):
            continue
        with contextlib.suppress(RuntimeError):
            _delete_namespace(ns)
            removed.append(ns)
    return removed


@functools.cache
def netns_available() -> str | None:
    """None when network namespaces can be used here, else a human-readable reason why not.

    Checks for root, the ``ip`` command, and that a throw-away namespace with a veth pair inside
    it can really be created and deleted. The result is cached for the process.
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespaces need root (the e2e tests run as root only)"
    if _find_tool("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"{NAME_PREFIX}{os.getpid()}-probe-{secrets.token_hex(3)}"
    try:
        _netns_add(probe)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return f"`ip netns add` does not work here: {exc}"
    try:
        _ip_in(probe, "link", "add", "p0", "type", "veth", "peer", "name", "p1")
        _ip_in(probe, "link", "add", "b0", "type", "bridge")
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return f"cannot create veth/bridge devices in a namespace: {exc}"
    finally:
        with contextlib.suppress(RuntimeError, OSError, subprocess.SubprocessError):
            _netns_del(probe)
    return None


@contextlib.contextmanager
def _allocation_lock() -> Iterator[None]:
    """Serialise subnet allocation between harness instances on this machine."""
    for path in _LOCK_PATHS:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
        return
    yield  # no lockable place: the random choice below still makes a clash unlikely


_stale_cleaned = False
_stale_lock = threading.Lock()


class Host:
    """One machine of a :class:`Lan`: a network namespace with one veth on the LAN's bridge."""

    def __init__(self, lan: Lan, index: int, name: str, address: str) -> None:
        self.lan = lan
        """The LAN this host belongs to."""
        self.index = index
        """Position in ``lan.hosts``."""
        self.name = name
        """Name of the host's network namespace (as for ``ip netns exec``)."""
        self.address = address
        """The host's IPv4 address on the LAN, e.g. ``"10.213.7.10"``."""
        self.interface = HOST_INTERFACE
        """Name of the host's LAN interface inside its namespace."""
        self.multicast_dropped = False
        """True after :meth:`drop_multicast` (until :meth:`allow_multicast`)."""

    def __repr__(self) -> str:
        return f"Host({self.name!r}, {self.address!r})"

    def popen(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        stdout: int | IO[Any] | None = subprocess.PIPE,
        stderr: int | IO[Any] | None = subprocess.PIPE,
        stdin: int | IO[Any] | None = subprocess.DEVNULL,
        text: bool = False,
    ) -> subprocess.Popen[Any]:
        """Start ``argv`` inside this host (``ip netns exec NAME argv...``) in a new session.

        The process is tracked and stopped when the LAN closes. ``env`` replaces the
        environment when given (None inherits the harness's).
        """
        if self.lan.closed:
            raise RuntimeError(f"{self.lan!r} is closed")
        cmd = [_ip_path(), "netns", "exec", self.name, *(os.fspath(a) for a in argv)]
        proc = subprocess.Popen(
            cmd,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdout=stdout,
            stderr=stderr,
            stdin=stdin,
            text=text,
            start_new_session=True,
        )
        self.lan._track(proc)
        return proc

    def run(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        timeout: float = 60.0,
        check: bool = False,
        input: bytes | str | None = None,  # same name as in subprocess.run
        **kw: Any,
    ) -> subprocess.CompletedProcess[Any]:
        """Run ``argv`` inside this host to completion and return its result.

        Output is captured (``stdout``/``stderr`` keyword arguments as for :meth:`popen`).
        On timeout the whole process group is killed and ``subprocess.TimeoutExpired``
        is raised; with ``check=True`` a non-zero exit raises ``CalledProcessError``.
        """
        if input is not None:
            kw["stdin"] = subprocess.PIPE
        proc = self.popen(argv, **kw)
        try:
            out, err = proc.communicate(input=input, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.terminate(proc, grace=0.0)
            out, err = proc.communicate()
            raise subprocess.TimeoutExpired(proc.args, timeout, output=out, stderr=err) from None
        result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        if check:
            result.check_returncode()
        return result

    def interrupt(self, proc: subprocess.Popen[Any]) -> None:
        """Send SIGINT to the process group of ``proc`` (as Ctrl-C in a terminal would)."""
        self.lan._signal_group(proc, signal.SIGINT)

    def terminate(self, proc: subprocess.Popen[Any], *, grace: float = KILL_GRACE_S) -> int:
        """SIGTERM the process group of ``proc``, SIGKILL it after ``grace`` s; return the code."""
        return self.lan._stop([proc], grace)[0]

    def drop_multicast(self) -> None:
        """Make multicast (224.0.0.0/4) to and from this host vanish; unicast keeps working.

        Implemented with a ``clsact`` qdisc on the host's veth and a classic-BPF filter in
        direct-action mode on both its ingress and egress hooks, which returns TC_ACT_SHOT for
        IPv4 packets with a multicast destination (this needs only cls_bpf, no ``act_gact``
        module, no nftables/iptables). Falls back to a u32 filter with ``action drop`` where
        cls_bpf is missing. IGMP (sent to 224.0.0.x) is dropped too; broadcasts are not.
        """
        _tc_in(self.name, "qdisc", "replace", "dev", self.interface, "clsact")
        errors: list[str] = []
        for direction in ("ingress", "egress"):
            base = ["filter", "replace", "dev", self.interface, direction, "pref", _TC_PREF]
            try:
                _tc_in(
                    self.name, *base, "protocol", "all",
                    "bpf", "da", "bytecode", _DROP_MULTICAST_CBPF,
                )  # fmt: skip
                continue
            except RuntimeError as exc:
                errors.append(str(exc))
            try:
                _tc_in(
                    self.name, *base, "protocol", "ip",
                    "u32", "match", "ip", "dst", MULTICAST_NET, "action", "drop",
                )  # fmt: skip
            except RuntimeError as exc:
                errors.append(str(exc))
                raise RuntimeError(
                    "cannot install a multicast-dropping tc filter: " + " / ".join(errors)
                ) from exc
        self.multicast_dropped = True

    def allow_multicast(self) -> None:
        """Undo :meth:`drop_multicast` (removes the host veth's clsact qdisc and its filters)."""
        _tc_in(self.name, "qdisc", "del", "dev", self.interface, "clsact", check=False)
        self.multicast_dropped = False

    @property
    def bridge_port(self) -> str:
        """Name of the bridge-side end of this host's veth (in ``lan.bridge_ns``)."""
        return f"p{self.index}"

    def cut_link(self) -> None:
        """Unplug this host from the LAN, as a cable pulled at the switch would.

        The bridge-side end of the host's veth is set down (``ip -n <bridge ns> link set pN
        down``), so the host's ``eth0`` loses its carrier and every packet to or from it is
        lost; the host keeps its address and routes (the multicast route included), so
        :meth:`restore_link` brings it back exactly as it was, and open TCP connections
        survive a short cut by retransmitting.
        """
        _ip_in(self.lan.bridge_ns, "link", "set", self.bridge_port, "down")

    def restore_link(self) -> None:
        """Plug the host back in after :meth:`cut_link` (the bridge port forwards at once:
        the LAN's bridge has STP off and no forward delay)."""
        _ip_in(self.lan.bridge_ns, "link", "set", self.bridge_port, "up")

    def link_up(self) -> bool:
        """Whether the bridge-side end of this host's veth is up (not cut)."""
        out = _ip_in(self.lan.bridge_ns, "-o", "link", "show", self.bridge_port).stdout
        flags = out.split("<", 1)[1].split(">", 1)[0].split(",") if "<" in out else []
        return "UP" in flags

    def interface_down(self) -> None:
        """Take this host's LAN interface down inside the host (``ip -n HOST link set eth0
        down``), as an administrator or a network manager would: unlike :meth:`cut_link`, the
        host's processes see the interface go down and its routes go away. Undo with
        :meth:`interface_up`.
        """
        _ip_in(self.name, "link", "set", self.interface, "down")

    def interface_up(self) -> None:
        """Bring the LAN interface back up after :meth:`interface_down`, with the multicast
        route the kernel dropped when it went down (the subnet route comes back by itself)."""
        _ip_in(self.name, "link", "set", self.interface, "up")
        _ip_in(self.name, "route", "replace", MULTICAST_NET, "dev", self.interface)


class Lan:
    """A bridge namespace plus ``hosts`` host namespaces, each on the bridge through a veth pair.

    Built in the constructor; use as a context manager (or call :meth:`close`) to stop every
    process started through its hosts and delete all its namespaces. Host ``i`` has address
    ``10.213.<k>.<10+i>/24`` where ``k`` (``self.subnet_id``) is chosen so that concurrent
    harness instances on the machine use different subnets.
    """

    def __init__(self, hosts: int) -> None:
        if not 1 <= hosts <= 200:
            raise ValueError(f"hosts must be between 1 and 200, not {hosts}")
        reason = netns_available()
        if reason is not None:
            raise RuntimeError(f"network namespaces unavailable: {reason}")
        self.closed = False
        """True once :meth:`close` has run."""
        self.hosts: list[Host] = []
        """The hosts, in index order."""
        self._procs: list[subprocess.Popen[Any]] = []
        self._procs_lock = threading.Lock()
        self._namespaces: list[str] = []  # every namespace created, in creation order
        _clean_stale_once()
        try:
            with _allocation_lock():
                self.subnet_id = self._pick_subnet()
                """``k`` in ``10.213.k.0/24``."""
                tag = secrets.token_hex(2)
                self.prefix = f"{NAME_PREFIX}{os.getpid()}-{self.subnet_id}-{tag}"
                """Common start of this LAN's namespace names."""
                self.bridge_ns = f"{self.prefix}-br"
                """Name of the namespace holding the bridge ``br0``."""
                self._add_namespace(self.bridge_ns)
            self._build(hosts)
        except BaseException:
            self.close()
            raise
        atexit.register(self._close_at_exit)

    @property
    def subnet(self) -> str:
        """The LAN's IPv4 subnet, e.g. ``"10.213.7.0/24"``."""
        return f"10.213.{self.subnet_id}.0/24"

    @property
    def namespaces(self) -> list[str]:
        """Names of all namespaces of this LAN (bridge first)."""
        return list(self._namespaces)

    def __repr__(self) -> str:
        return f"Lan({self.prefix if hasattr(self, 'prefix') else '?'}, hosts={len(self.hosts)})"

    def __enter__(self) -> Lan:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- construction -------------------------------------------------------------------------

    @staticmethod
    def _pick_subnet() -> int:
        used = set()
        for ns in list_harness_namespaces():
            m = _NAME_SUBNET.match(ns)
            if m is not None:
                used.add(int(m.group(1)))
        free = [k for k in range(256) if k not in used]
        if not free:
            raise RuntimeError("all 256 subnets 10.213.k.0/24 are in use by harness namespaces")
        return secrets.choice(free)

    def _add_namespace(self, ns: str) -> None:
        _netns_add(ns)
        self._namespaces.append(ns)
        _ip_in(ns, "link", "set", "lo", "up")

    def _build(self, count: int) -> None:
        br = self.bridge_ns
        _ip_in(
            br, "link", "add", "br0", "type", "bridge",
            "mcast_snooping", "0", "stp_state", "0", "forward_delay", "0",
        )  # fmt: skip
        _ip_in(br, "link", "set", "br0", "up")
        for i in range(count):
            ns = f"{self.prefix}-h{i}"
            address = f"10.213.{self.subnet_id}.{10 + i}"
            port = f"p{i}"
            self._add_namespace(ns)
            _ip_in(
                br, "link", "add", port, "type", "veth",
                "peer", "name", HOST_INTERFACE, "netns", ns,
            )  # fmt: skip
            _ip_in(br, "link", "set", port, "master", "br0", "up")
            _ip_in(ns, "addr", "add", f"{address}/24", "dev", HOST_INTERFACE)
            _ip_in(ns, "link", "set", HOST_INTERFACE, "up")
            _ip_in(ns, "route", "add", MULTICAST_NET, "dev", HOST_INTERFACE)
            self.hosts.append(Host(self, i, ns, address))

    # -- processes ----------------------------------------------------------------------------

    def _track(self, proc: subprocess.Popen[Any]) -> None:
        with self._procs_lock:
            self._procs.append(proc)

    @staticmethod
    def _signal_group(proc: subprocess.Popen[Any], sig: int) -> bool:
        """Signal the process group led by ``proc`` while its leader is unreaped.

        Only then is the group id guaranteed to still be ours; members left behind by a
        leader that has exited are swept from the namespaces on close.
        """
        if proc.poll() is not None:
            return False
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return False
        return True

    def _stop(self, procs: Sequence[subprocess.Popen[Any]], grace: float) -> list[int]:
        """SIGTERM each group, SIGKILL those still running after ``grace`` s; return codes."""
        for proc in procs:
            self._signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        for proc in procs:
            if self._signal_group(proc, signal.SIGKILL):
                proc.wait()
        return [proc.returncode for proc in procs]

    # -- teardown -----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop every process started through this LAN and delete all its namespaces.

        Idempotent. Raises RuntimeError (after trying everything) if a namespace could not be
        deleted.
        """
        if self.closed:
            return
        self.closed = True
        with self._procs_lock:
            procs = list(self._procs)
        self._stop(procs, KILL_GRACE_S)
        for proc in procs:
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        errors: list[str] = []
        # hosts first, the bridge last (deleting a host also removes its veth from the bridge)
        for ns in reversed(self._namespaces):
            try:
                _delete_namespace(ns)
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                errors.append(f"{ns}: {exc}")
        with contextlib.suppress(Exception):
            atexit.unregister(self._close_at_exit)
        if errors:
            raise RuntimeError("could not delete namespaces: " + "; ".join(errors))

    def _close_at_exit(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def _clean_stale_once() -> None:
    global _stale_cleaned
    with _stale_lock:
        if _stale_cleaned:
            return
        _stale_cleaned = True
    cleanup_stale_namespaces()
