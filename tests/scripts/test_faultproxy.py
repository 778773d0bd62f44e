"""scripts/faultproxy.py: the TCP proxy whose faults the e2e tests switch."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.faultproxy import FaultProxy, Mode

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    """A server that sends back every byte it receives, on each connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def echo(conn: socket.socket) -> None:
        with conn, contextlib.suppress(ConnectionResetError):  # refuse resets it
            while data := conn.recv(65536):
                conn.sendall(data)

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[:2]
    stop.set()
    thread.join()
    listener.close()


@pytest.fixture
def proxy(echo_server: tuple[str, int]) -> Iterator[FaultProxy]:
    with FaultProxy(echo_server) as running:
        yield running


def connect(proxy: FaultProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=2)


def roundtrip(sock: socket.socket, data: bytes = b"ping") -> bytes:
    sock.sendall(data)
    received = b""
    while len(received) < len(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def test_it_passes_bytes_both_ways(proxy) -> None:
    with connect(proxy) as sock:
        assert roundtrip(sock) == b"ping"
        big = bytes(range(256)) * 4096  # 1 MiB: more than the proxy buffers
        assert roundtrip(sock, big) == big


def test_a_blackhole_accepts_and_stays_silent_then_delivers_when_healed(proxy) -> None:
    with connect(proxy) as old:
        assert roundtrip(old) == b"ping"
        proxy.set_mode(Mode.BLACKHOLE)
        new = connect(proxy)  # the handshake succeeds
        old.settimeout(0.3)
        new.settimeout(0.3)
        old.sendall(b"one")
        new.sendall(b"two")
        with pytest.raises(TimeoutError):
            old.recv(10)
        with pytest.raises(TimeoutError):
            new.recv(10)

        proxy.set_mode(Mode.PASS)

        old.settimeout(2)
        new.settimeout(2)
        assert old.recv(10) == b"one"
        assert new.recv(10) == b"two"
        new.close()


def test_refuse_refuses_new_connections_and_resets_open_ones(proxy) -> None:
    with connect(proxy) as old:
        assert roundtrip(old) == b"ping"

        proxy.set_mode(Mode.REFUSE)

        with pytest.raises(ConnectionRefusedError):
            connect(proxy)
        with pytest.raises(ConnectionResetError):
            roundtrip(old)
    proxy.set_mode(Mode.PASS)
    with connect(proxy) as again:  # the same port again
        assert roundtrip(again) == b"ping"


def test_a_closed_client_closes_its_server_side(proxy) -> None:
    with connect(proxy) as sock:
        assert roundtrip(sock) == b"ping"
    deadline = time.monotonic() + 2
    while proxy.connections and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proxy.connections == 0


def test_the_program_follows_its_control_file(echo_server, tmp_path) -> None:
    control = tmp_path / "mode"
    target = f"{echo_server[0]}:{echo_server[1]}"
    program = subprocess.Popen(
        [sys.executable, "scripts/faultproxy.py", target, "--control", str(control)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(program.stdout.readline().strip().rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            assert roundtrip(sock) == b"ping"
        control.write_text("refuse\n")
        assert program.stdout.readline().strip() == "mode refuse"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2)
    finally:
        program.terminate()
        assert program.wait(timeout=5) == 0
