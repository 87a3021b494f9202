"""Whether a peer's TCP connection is open, read from the kernel's tables, with real sockets."""

from __future__ import annotations

import ipaddress
import socket
import sys

import pytest

from policies_api.peers import parse_peer, peer_connected


def test_peers_are_parsed_as_grpc_writes_them():
    assert parse_peer("ipv4:127.0.0.1:5000") == (ipaddress.ip_address("127.0.0.1"), 5000)
    assert parse_peer("ipv6:%5B::1%5D:47522") == (ipaddress.ip_address("::1"), 47522)
    assert parse_peer("ipv6:[::ffff:10.0.0.2]:80") == (ipaddress.ip_address("10.0.0.2"), 80)  # IPv4-mapped
    assert parse_peer("unix:") is None and parse_peer("unix:/tmp/s.sock") is None and parse_peer("ipv4:x") is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/net/tcp (Linux only)")
def test_a_connection_is_seen_open_then_closed():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        server_port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", server_port))
        accepted, _ = listener.accept()
        peer = f"ipv4:127.0.0.1:{client.getsockname()[1]}"
        assert peer_connected(peer, {server_port}) is True
        assert peer_connected(peer, {server_port + 1 if server_port < 65535 else 1}) is False  # not to that port
        client.close()  # the peer is gone: the server's end is no longer ESTABLISHED
        assert peer_connected(peer, {server_port}) is False
        accepted.close()
    assert peer_connected("unix:", {server_port}) is None
