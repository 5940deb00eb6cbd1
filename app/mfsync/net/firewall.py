"""What a firewall must let in for mfsync, as a note for people: one source for every installer.

The .deb installs this note as ``/usr/share/doc/mfsync/README.firewall`` and the other
installers print or show the same facts. The ports and the group come from the modules that own
them, so a changed default changes every copy of the note. ``python -m mfsync.net.firewall``
prints it.
"""

from mfsync.net.discovery import DEFAULT_GROUP, DEFAULT_TTL, DEFAULT_UDP_PORT
from mfsync.net.server import DEFAULT_TCP_PORT

__all__ = ["EXAMPLE_NETWORK", "firewall_note"]

#: The network in the example commands; the reader puts in their own.
EXAMPLE_NETWORK = "192.168.0.0/16"


def firewall_note(
    tcp_port: int = DEFAULT_TCP_PORT,
    udp_port: int = DEFAULT_UDP_PORT,
    group: str = DEFAULT_GROUP,
) -> str:
    """The ports mfsync uses and the ufw and firewalld commands that open them (plain text,
    ending in a newline)."""
    return f"""\
mfsync and your firewall
========================

Other computers on your network find mfsync and fetch files from it on
two ports:

  UDP {udp_port:<5}  discovery: multicast to {group} (TTL {DEFAULT_TTL}: it never leaves the
             local network)
  TCP {tcp_port:<5}  transfers (if {tcp_port} is taken, mfsync uses a free port and announces
             it: open that one too, or start mfsync with --port)

If a firewall is on, allow both in from your local network (put your network
in place of {EXAMPLE_NETWORK}):

ufw (Ubuntu, Debian):

  sudo ufw allow proto udp from {EXAMPLE_NETWORK} to any port {udp_port} comment mfsync
  sudo ufw allow proto tcp from {EXAMPLE_NETWORK} to any port {tcp_port} comment mfsync

firewalld (Fedora, RHEL, openSUSE), in the zone of your local network:

  sudo firewall-cmd --permanent --add-port={udp_port}/udp --add-port={tcp_port}/tcp
  sudo firewall-cmd --reload
"""


if __name__ == "__main__":
    print(firewall_note(), end="")
