"""A threaded TCP forwarder on a loopback port that tests can cut and restore (a network outage).

    with TcpProxy("127.0.0.1", 5432) as proxy:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/db"
        proxy.cut()      # live connections are closed, new ones refused
        proxy.restore()  # listening again on the same port

One thread accepts; each connection gets one thread that pumps both directions with a selector.
"""
from __future__ import annotations

import selectors
import socket
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1", port: int = 0):
        self.target = (target_host, target_port)
        self.host, self.port = host, port
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._listening = threading.Event()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def is_cut(self) -> bool:
        return not self._listening.is_set()

    def start(self) -> TcpProxy:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(64)
        sock.settimeout(0.1)  # accept() wakes up to notice cut()
        self.port = sock.getsockname()[1]
        self._listener = sock
        self._listening.set()
        self._acceptor = threading.Thread(target=self._accept, args=(sock,), name="tcp-proxy-accept",
                                          daemon=True)
        self._acceptor.start()
        return self

    def cut(self) -> None:
        """Stop listening (new connections are refused) and close every live connection."""
        self._listening.clear()
        if self._acceptor:
            self._acceptor.join(timeout=2)
        if self._listener:
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = list(self._conns), set()
            threads, self._threads = self._threads, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)  # wakes the pump, the peer sees the connection drop
            except OSError:
                pass
        for t in threads:
            t.join(timeout=2)

    def restore(self) -> None:
        if self.is_cut:
            self.start()

    def close(self) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while self._listening.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            t = threading.Thread(target=self._pump, args=(client, upstream), name="tcp-proxy-pump",
                                 daemon=True)
            with self._lock:
                self._conns.update((client, upstream))
                self._threads.append(t)
            t.start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                for key, _ in sel.select(timeout=0.5):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except (OSError, ValueError):  # a socket shut down or closed under us by cut()
            return
        finally:
            sel.close()
            for s in (a, b):
                s.close()
            with self._lock:
                self._conns.difference_update((a, b))
