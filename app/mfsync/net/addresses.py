"""``HOST[:PORT]`` as users type it: the rules live in ``protocol.endpoints`` (the settings read
them too, without loading the network); this name stays for the network's own modules."""

from mfsync.protocol.endpoints import format_host_port, parse_host_port

__all__ = ["format_host_port", "parse_host_port"]
