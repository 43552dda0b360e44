"""Real receivers for alerts on loopback: an HTTP webhook that can be stopped and started again on
its port, and a mosquitto broker (Debian's) on a free port, with a user of the test's own."""
from __future__ import annotations

import hmac
import http.server
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

from support.rtsp import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


class Webhook:
    """Records every POST (body, headers); `secret` checks X-Maskwatch-Signature, answering 401 when
    it is wrong."""

    def __init__(self, port: int | None = None, secret: str | None = None, redirect: tuple[int, str] | None = None):
        """`redirect`: (status, location) to answer every POST with instead."""
        self.port, self.secret, self.redirect = port or free_port(), secret, redirect
        self.got: list[dict] = []   # JSON bodies, parsed
        self.raw: list[bytes] = []  # every body as it came
        self.other: list[tuple[str, dict]] = []  # requests other than POST: (method, headers)
        self.headers: list[dict] = []
        self.bad_signatures = 0
        self.server = self.thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Webhook:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if owner.redirect is not None:
                    self.send_response(owner.redirect[0])
                    self.send_header("Location", owner.redirect[1])
                    self.end_headers()
                    return
                if owner.secret is not None:
                    want = "sha256=" + hmac.new(owner.secret.encode(), body, "sha256").hexdigest()
                    if not hmac.compare_digest(want, self.headers.get("X-Maskwatch-Signature", "")):
                        owner.bad_signatures += 1
                        self.send_response(401)
                        self.end_headers()
                        return
                owner.raw.append(body)
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    owner.got.append(json.loads(body))
                owner.headers.append(dict(self.headers))
                self.send_response(204)
                self.end_headers()

            def do_GET(self):  # what a followed 301/302/303 turns a POST into
                owner.other.append((self.command, dict(self.headers)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(timeout=5)
            self.server = None

    def ids(self) -> list[str]:
        return [m["message_id"] for m in self.got]


class Mosquitto:
    """mosquitto on 127.0.0.1:<free port>, only for `user` with `password`."""

    def __init__(self, tmp: Path, user: str = "maskwatch", password: str = "broker-secret-1",
                 tls: tuple[Path, Path] | None = None):
        self.tmp, self.user, self.password, self.port, self.tls = tmp, user, password, free_port(), tls
        self.proc: subprocess.Popen | None = None

    def start(self) -> Mosquitto:
        passwd = self.tmp / "passwd"
        subprocess.run([MOSQUITTO_PASSWD, "-b", "-c", str(passwd), self.user, self.password], check=True,
                       capture_output=True)
        os.chmod(passwd, 0o600)
        conf = self.tmp / "mosquitto.conf"
        # as root mosquitto would switch to its own user, who cannot read pytest's private folders
        as_root = "user root\n" if os.geteuid() == 0 else ""
        tls = f"certfile {self.tls[0]}\nkeyfile {self.tls[1]}\n" if self.tls else ""
        conf.write_text(f"listener {self.port} 127.0.0.1\n{tls}allow_anonymous false\npassword_file {passwd}\n"
                        f"persistence false\n{as_root}")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.tmp / "mosquitto.log", "wb"))
        import socket

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start: " + (self.tmp / "mosquitto.log").read_text())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)


class Smtp:
    """aiosmtpd's SMTP server on a free loopback port, keeping every message it accepts; stopped and
    started again on the same port to test an outage."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.messages: list = []  # email.message.EmailMessage
        self.controller = None

    def start(self) -> Smtp:
        import email
        import email.policy

        from aiosmtpd.controller import Controller

        owner = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                owner.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
