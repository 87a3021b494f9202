"""Whether a gRPC peer's TCP connection to this server is still open (Linux), so that the
sessions of a client that is gone can be reclaimed before the idle timeout.

gRPC's Python server does not report a connection closing, but the kernel lists every TCP
connection of the process's network namespace in /proc/net/tcp and /proc/net/tcp6: a peer
`ipv4:A:P` is connected while a connection from A:P to one of the server's ports is
ESTABLISHED (a client that exits or is killed has its socket closed by its kernel at once).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from urllib.parse import unquote

_TCP_TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
_ESTABLISHED = "01"


def parse_peer(peer: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int] | None:
    """`ipv4:127.0.0.1:5000` / `ipv6:[::1]:5000` (gRPC's context.peer()) -> (address, port); None
    for Unix sockets and anything else."""
    kind, _, rest = unquote(peer).partition(":")  # gRPC writes ipv6:%5B::1%5D:5000
    host, _, port = rest.rpartition(":")
    if kind not in ("ipv4", "ipv6") or not port.isdigit():
        return None
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address, int(port)


def _address_of(hex_address: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    """A /proc/net/tcp{,6} address `HEX:PORT` (the address in 32-bit little-endian words)."""
    host, port = hex_address.split(":")
    raw = b"".join(bytes.fromhex(host[i:i + 8])[::-1] for i in range(0, len(host), 8))
    address = ipaddress.ip_address(raw)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address, int(port, 16)


def established_peers(server_ports: set[int]) -> set[tuple] | None:
    """(address, port) of every remote end of an ESTABLISHED connection to one of server_ports;
    None where the kernel tables cannot be read (not Linux)."""
    peers, readable = set(), False
    for table in _TCP_TABLES:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == _ESTABLISHED and _address_of(fields[1])[1] in server_ports:
                peers.add(_address_of(fields[2]))
    return peers if readable else None


def peer_connected(peer: str, server_ports: set[int]) -> bool | None:
    """True / False when `peer`'s TCP connection to one of server_ports is open / closed; None
    when it cannot be told (Unix-socket peers, no /proc)."""
    address = parse_peer(peer)
    if address is None or not server_ports:
        return None
    peers = established_peers(server_ports)
    return None if peers is None else address in peers
