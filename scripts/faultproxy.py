"""A TCP proxy whose faults a test switches at runtime: pass, refuse, blackhole.

Put it between a program and a server (PostgreSQL, Redis...) and point the
program at the proxy::

    from scripts.faultproxy import FaultProxy, Mode

    with FaultProxy(("127.0.0.1", 5432)) as proxy:      # listens on a free local port
        url = f"postgres://postgres@127.0.0.1:{proxy.port}/test"
        ...                                              # the program works
        proxy.set_mode(Mode.BLACKHOLE)                   # the server goes silent
        proxy.set_mode(Mode.REFUSE)                      # the server is down
        proxy.set_mode(Mode.PASS)                        # all is well again

The modes:

- ``pass``: bytes flow both ways.
- ``refuse``: the server is down. The listening socket is closed, so new
  connections are refused (ECONNREFUSED), and open connections are reset
  (RST to the client; the server's side is closed), as when the server stops.
- ``blackhole``: the server is silent. New connections are accepted (the
  kernel completes the handshake) and nothing is forwarded either way on
  any connection, new or old; connections stay open. Bytes sent meanwhile
  wait unread in the kernel's buffers and flow once the mode is ``pass``
  again, as after a network partition that heals before TCP gives up.
  A connection accepted in this mode is connected to the server only then.

What the client sees in ``blackhole`` is a peer that acknowledges every
packet and never answers (a frozen server, a stuck pooler or proxy): TCP
keepalives and ``TCP_USER_TIMEOUT`` do not fire, as the proxy's kernel
acknowledges; only a client-side deadline ends the wait. A true packet drop
(a firewall DROP rule, a dead host) needs root and cannot be done here.

``set_mode`` returns once the mode is in force: after it, no byte is
forwarded in ``blackhole`` and a new connection is refused in ``refuse``
(a chunk already read just before the switch may still be delivered, like a
packet already on the wire).

One thread runs every socket (a selector loop), so the proxy may be driven
from any thread. As a program, for other processes (the chaos script)::

    python scripts/faultproxy.py 127.0.0.1:5432 --listen 127.0.0.1:6432 --control /tmp/pg.mode
    echo blackhole > /tmp/pg.mode     # read within 0.2 s; pass, refuse, blackhole

It prints ``listening on HOST:PORT`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import queue
import selectors
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

__all__ = ["FaultProxy", "Mode"]

# Bytes held for one direction before the proxy stops reading its source.
_BUFFER_LIMIT = 256 * 1024
_CHUNK = 64 * 1024


class Mode(enum.StrEnum):
    PASS = "pass"
    REFUSE = "refuse"
    BLACKHOLE = "blackhole"


class _Side:
    """One socket of a proxied connection and the bytes waiting to be written to it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.outbox = bytearray()
        self.eof = False  # no more bytes will come from this socket
        self.write_shut = False  # its peer's EOF was passed on (shutdown SHUT_WR)


class _Link:
    """A client connection and, once the mode allows, its connection to the target."""

    def __init__(self, client: socket.socket) -> None:
        self.client = _Side(client)
        self.server: _Side | None = None
        self.connecting = False

    def sides(self) -> list[_Side]:
        return [self.client] if self.server is None else [self.client, self.server]

    def peer(self, side: _Side) -> _Side | None:
        return self.server if side is self.client else self.client

    @property
    def finished(self) -> bool:
        # Both directions ended and every byte was delivered.
        return all(s.eof for s in self.sides()) and not any(s.outbox for s in self.sides())


class FaultProxy:
    """A TCP proxy from ``listen`` (default: a free port on 127.0.0.1) to ``target``.

    Use as a context manager, or call ``start()`` and ``close()``. ``port``
    is the listening port (stable across ``refuse``: the same port is bound
    again when the mode leaves it).
    """

    def __init__(
        self,
        target: tuple[str, int],
        *,
        listen: tuple[str, int] = ("127.0.0.1", 0),
        mode: Mode | str = Mode.PASS,
    ) -> None:
        self.target = target
        self._address = listen
        self._mode = Mode(mode)
        self._selector = selectors.DefaultSelector()
        self._listener: socket.socket | None = None
        self._links: dict[socket.socket, tuple[_Link, _Side]] = {}
        self._commands: queue.SimpleQueue[tuple[Callable[[], None], threading.Event]] = (
            queue.SimpleQueue()
        )
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._open = 0  # written by the loop only
        self._thread: threading.Thread | None = None
        self._stopping = False

    # --- The API ---------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._address[1]

    @property
    def address(self) -> tuple[str, int]:
        return self._address

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def connections(self) -> int:
        """How many client connections are open."""
        return self._open

    def start(self) -> FaultProxy:
        """Bind (in any mode but ``refuse``) and start forwarding; return self."""
        self._bind()  # even to refuse: ``port`` is known from the start
        if self._mode is Mode.REFUSE:
            self._close_listener()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._loop, name="faultproxy", daemon=True)
        self._thread.start()
        return self

    def set_mode(self, mode: Mode | str) -> None:
        """Switch to ``mode``; return once it is in force (see the module docstring)."""
        mode = Mode(mode)
        self._call(lambda: self._apply(mode))

    def close(self) -> None:
        """Stop: close the listener and every connection (reset). Idempotent."""
        if self._thread is None or not self._thread.is_alive():
            return
        self._call(self._stop)
        self._thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- Commands, run by the loop's thread -----------------------------------------

    def _call(self, command: Callable[[], None]) -> None:
        if self._thread is None:
            raise RuntimeError("the proxy is not started")
        done = threading.Event()
        self._commands.put((command, done))
        self._wake_w.send(b"x")
        if not done.wait(timeout=5):
            raise RuntimeError("the proxy's loop did not answer within 5 s")

    def _apply(self, mode: Mode) -> None:
        self._mode = mode
        if mode is Mode.REFUSE:
            self._close_listener()
            for link in self._all_links():
                self._drop(link, reset=True)
            return
        if self._listener is None:
            self._bind()
        for link in self._all_links():
            if mode is Mode.PASS and link.server is None and not link.connecting:
                self._connect_upstream(link)
            self._update(link)

    def _stop(self) -> None:
        self._stopping = True
        self._close_listener()
        for link in self._all_links():
            self._drop(link, reset=True)

    def _all_links(self) -> list[_Link]:
        return list({id(link): link for link, _ in self._links.values()}.values())

    # --- The loop -------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping:
            for key, events in self._selector.select(timeout=1.0):
                if key.fileobj is self._wake_r:
                    self._run_commands()
                elif key.fileobj is self._listener:
                    self._accept()
                elif key.fileobj in self._links:
                    self._service(key.fileobj, events)  # type: ignore[arg-type]
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _run_commands(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self._wake_r.recv(4096)
        while True:
            try:
                command, done = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                command()
            finally:
                done.set()

    def _bind(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # The port may be briefly taken while refusing (an outgoing connection
        # given it as its local port): try again for a moment.
        deadline = time.monotonic() + 2
        while True:
            try:
                listener.bind(self._address)
                break
            except OSError:
                if time.monotonic() > deadline:
                    listener.close()
                    raise
                time.sleep(0.05)
        listener.listen(128)
        listener.setblocking(False)
        self._address = listener.getsockname()[:2]
        self._listener = listener
        self._selector.register(listener, selectors.EVENT_READ, None)

    def _close_listener(self) -> None:
        if self._listener is None:
            return
        self._selector.unregister(self._listener)
        self._listener.close()
        self._listener = None

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        client.setblocking(False)
        link = _Link(client)
        self._links[client] = (link, link.client)
        self._open += 1
        if self._mode is Mode.PASS:
            self._connect_upstream(link)
        self._update(link)

    def _connect_upstream(self, link: _Link) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setblocking(False)
        server.connect_ex(self.target)
        link.server = _Side(server)
        link.connecting = True
        self._links[server] = (link, link.server)

    def _service(self, sock: socket.socket, events: int) -> None:
        link, side = self._links[sock]
        try:
            if link.connecting and side is link.server:
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    raise ConnectionRefusedError("the target refused")
                link.connecting = False
            elif events & selectors.EVENT_READ:
                self._read(link, side)
            if events & selectors.EVENT_WRITE and side.outbox:
                sent = sock.send(side.outbox)
                del side.outbox[:sent]
        except OSError:
            # Either end failed: the other one sees a reset, as it would
            # through a real network.
            self._drop(link, reset=True)
            return
        self._update(link)

    def _read(self, link: _Link, side: _Side) -> None:
        peer = link.peer(side)
        assert peer is not None
        data = side.sock.recv(_CHUNK)
        if data:
            peer.outbox += data
        else:
            side.eof = True

    def _update(self, link: _Link) -> None:
        """Register each socket for what the mode and the buffers allow, or close the link."""
        for side in link.sides():
            peer = link.peer(side)
            if side.eof and peer is not None and not peer.outbox and not peer.write_shut:
                with contextlib.suppress(OSError):
                    peer.sock.shutdown(socket.SHUT_WR)
                peer.write_shut = True
        if link.finished or (link.client.eof and link.server is None):
            self._drop(link, reset=False)
            return
        for side in link.sides():
            self._watch(side.sock, self._interest(link, side))

    def _interest(self, link: _Link, side: _Side) -> int:
        if link.connecting and side is link.server:
            return selectors.EVENT_WRITE
        if self._mode is not Mode.PASS or link.server is None or link.connecting:
            # Blackhole, or not connected yet: read nothing, write nothing
            # (not even an EOF or a reset of the client is noticed: silence).
            return 0
        peer = link.peer(side)
        assert peer is not None
        events = 0
        if not side.eof and len(peer.outbox) < _BUFFER_LIMIT:
            events |= selectors.EVENT_READ
        if side.outbox:
            events |= selectors.EVENT_WRITE
        return events

    def _watch(self, sock: socket.socket, events: int) -> None:
        """Wait for ``events`` on ``sock`` (none: leave it out of the selector)."""
        registered = self._selector.get_map().get(sock)
        if registered is None:
            if events:
                self._selector.register(sock, events, None)
        elif not events:
            self._selector.unregister(sock)
        elif registered.events != events:
            self._selector.modify(sock, events, None)

    def _drop(self, link: _Link, *, reset: bool) -> None:
        if link.client.sock in self._links:
            self._open -= 1
        for side in link.sides():
            self._links.pop(side.sock, None)
            self._watch(side.sock, 0)
            if reset:
                # SO_LINGER 0: close() sends RST instead of FIN.
                side.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            side.sock.close()


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", type=_host_port, help="HOST:PORT to forward to")
    parser.add_argument("--listen", type=_host_port, default=("127.0.0.1", 0))
    parser.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.PASS.value)
    parser.add_argument("--control", type=Path, help="a file holding the mode; read every 0.2 s")
    args = parser.parse_args(argv)
    # SIGTERM (the chaos script stopping it): close every connection first.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with FaultProxy(args.target, listen=args.listen, mode=args.mode) as proxy:
        print(f"listening on {proxy.address[0]}:{proxy.port}", flush=True)
        try:
            while True:
                time.sleep(0.2)
                if args.control is not None:
                    _follow(proxy, args.control)
        except KeyboardInterrupt:
            return 0


def _follow(proxy: FaultProxy, control: Path) -> None:
    try:
        wanted = control.read_text().strip()
    except FileNotFoundError:
        return
    if wanted and wanted != proxy.mode:
        try:
            proxy.set_mode(wanted)
        except ValueError:
            print(f"unknown mode {wanted!r} in {control}", file=sys.stderr, flush=True)
            return
        print(f"mode {wanted}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
