"""The suite itself refuses to reach the internet."""

import socket
import subprocess
import sys

import pytest


def test_connection_to_a_public_address_is_refused_in_process() -> None:
    with socket.socket() as sock, pytest.raises(OSError, match="blocked by the test suite"):
        sock.connect(("192.0.2.1", 80))  # TEST-NET-1: never routed, and never tried


def test_child_processes_are_guarded_too() -> None:
    code = "import socket\ntry:\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\nexcept OSError as e:\n    print(e)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert "blocked by the test suite" in result.stdout


def test_loopback_is_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
