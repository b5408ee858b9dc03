"""The session-wide network guard (conftest.block_network) really blocks outbound connections."""

from __future__ import annotations

import socket
import threading

import pytest
from conftest import NETWORK_DISABLED, block_network, is_local_address

NON_LOOPBACK = ("10.255.255.1", 80)


def test_connect_to_a_remote_address_is_refused():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(OSError, match=NETWORK_DISABLED):
            sock.connect(NON_LOOPBACK)


def test_connect_ex_to_a_remote_address_is_refused():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(OSError, match=NETWORK_DISABLED):
            sock.connect_ex(NON_LOOPBACK)


def test_create_connection_to_a_remote_host_is_refused():
    with pytest.raises(OSError, match=NETWORK_DISABLED):
        socket.create_connection(NON_LOOPBACK, timeout=1)
    with pytest.raises(OSError, match=NETWORK_DISABLED):
        socket.create_connection(("huggingface.co", 443), timeout=1)


def test_ipv6_remote_address_is_refused():
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        with pytest.raises(OSError, match=NETWORK_DISABLED):
            sock.connect(("2001:db8::1", 80, 0, 0))


def _listener() -> tuple[socket.socket, int]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    return server, server.getsockname()[1]


def test_loopback_is_allowed():
    server, port = _listener()
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]))
    thread.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
            client.settimeout(5)
            client.connect(("127.0.0.1", port))
            thread.join(5)
            assert len(accepted) == 1
        with socket.create_connection(("localhost", port), timeout=5):
            pass
    finally:
        for conn in accepted:
            conn.close()
        server.close()


def test_unix_sockets_are_allowed(tmp_path):
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)


@pytest.mark.parametrize(
    "family, address, allowed",
    [
        (socket.AF_INET, ("127.0.0.1", 80), True),
        (socket.AF_INET, ("127.8.9.10", 80), True),
        (socket.AF_INET, ("localhost", 80), True),
        (socket.AF_INET6, ("::1", 80, 0, 0), True),
        (socket.AF_INET6, ("::ffff:127.0.0.1", 80, 0, 0), True),
        (socket.AF_UNIX, "/tmp/some.sock", True),
        (socket.AF_INET, ("10.255.255.1", 80), False),
        (socket.AF_INET, ("8.8.8.8", 53), False),
        (socket.AF_INET, ("huggingface.co", 443), False),
        (socket.AF_INET6, ("2001:db8::1", 80, 0, 0), False),
    ],
)
def test_is_local_address(family, address, allowed):
    assert is_local_address(family, address) is allowed


def test_block_network_can_be_undone_and_reapplied():
    guarded = socket.socket.connect
    undo = block_network()  # a second layer on top of the session guard
    assert socket.socket.connect is not guarded
    undo()
    assert socket.socket.connect is guarded
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(OSError, match=NETWORK_DISABLED):
            sock.connect(NON_LOOPBACK)
