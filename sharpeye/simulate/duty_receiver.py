"""A simulated duty system: the duty phones and department systems the platform delivers
alarms to, as one small HTTP service on 127.0.0.1.

It takes what the platform really sends (a webhook's JSON POST with `Idempotency-Key`
and, when signed, `X-Sharpeye-Signature: t=<unix>,v1=<HMAC-SHA256(secret, "<t>." + body)>`;
an Apprise json:// POST), refuses a bad or stale signature with 401 as a real receiver
would, keeps what it took (in memory, bounded, and in a JSON-lines journal that survives a
restart), and shows it: `/` is a page listing the deliveries newest first (no script, no
asset from elsewhere), `/api/received` the same as JSON.

`sharpeye up` runs it as a supervised child (`python -m sharpeye.simulate.duty_receiver`)
and points the demo's destinations at `/duty/<department>/<level>` (`demo_destinations`).
Delivery tests use `DutyReceiver` in-process: taken down and brought back on one port.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sharpeye.bus.embedded import free_port
from sharpeye.contracts.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify

log = logging.getLogger(__name__)

SECRET_ENV = "SHARPEYE_RECEIVER_SECRET"
MAX_BODY = 1 << 20
LEVELS = {0: "duty desk", 1: "duty officer", 2: "department head"}
READY_LINE = "duty receiver on"


@dataclass
class Received:
    """One POST as it arrived; `verified` None when the receiver checks no signature."""

    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float = field(default_factory=time.time)
    verified: bool | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def summary(self) -> dict[str, Any]:
        """What a duty officer's phone shows: the alarm, the change, who it was for."""
        try:
            payload = self.json
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        found = payload.get("alarm")
        alarm: dict[str, Any] = found if isinstance(found, dict) else {}
        segments = [s for s in self.path.split("?")[0].split("/") if s]
        level = segments[2] if len(segments) >= 3 and segments[0] == "duty" else ""
        return {
            "received_at": self.received_at,
            "path": self.path,
            "department": segments[1] if len(segments) >= 2 and segments[0] == "duty" else "",
            "level": LEVELS.get(int(level), level) if level.isdigit() else level,
            "change": payload.get("change", ""),
            "alarm_id": alarm.get("id"),
            "title": alarm.get("title") or payload.get("title", ""),
            "severity": alarm.get("severity", ""),
            "camera": alarm.get("camera_name") or alarm.get("camera_id", ""),
            "state": alarm.get("state", ""),
            "message": payload.get("message", ""),
            "idempotency_key": self.headers.get(IDEMPOTENCY_HEADER)
            or payload.get("idempotency_key", ""),
            "verified": self.verified,
        }

    def to_line(self) -> str:
        return json.dumps(
            {
                "path": self.path,
                "headers": self.headers,
                "body": self.body.decode("utf-8", "replace"),
                "received_at": self.received_at,
                "verified": self.verified,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_line(cls, line: str) -> Received:
        d = json.loads(line)
        return cls(d["path"], d["headers"], d["body"].encode(), d["received_at"], d["verified"])


@dataclass
class DutyReceiver:
    """Records every accepted POST; `secret` set: unsigned or badly signed POSTs get 401.

    `keep` bounds what is held (a day's shift must not grow memory without end); the journal,
    when given, is rewritten to the last `keep` lines once it holds twice as many.
    """

    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    secret: str | None = None
    keep: int | None = None
    journal: Path | None = None
    received: deque[Received] = field(init=False)
    refused: int = field(default=0, init=False)
    _server: ThreadingHTTPServer | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _journal_lines: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.received = deque(maxlen=self.keep)
        if self.journal is not None and self.journal.exists():
            lines = self.journal.read_text(encoding="utf-8").splitlines()
            self._journal_lines = len(lines)
            for line in lines:
                try:
                    self.received.append(Received.from_line(line))
                except (ValueError, KeyError):
                    continue  # a line cut short by a crash: the rest is still good

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def summaries(self) -> list[dict[str, Any]]:
        """Newest first."""
        with self._lock:
            return [r.summary() for r in reversed(self.received)]

    def take(self, path: str, headers: dict[str, str], body: bytes) -> bool:
        """Check and keep one POST; False when its signature is refused."""
        verified: bool | None = None
        if self.secret is not None:
            signature = headers.get(SIGNATURE_HEADER, "")
            verified = verify(self.secret, signature, body)
            if not verified:
                with self._lock:
                    self.refused += 1
                log.warning("refused a delivery to %s: signature missing or wrong", path)
                return False
        item = Received(path, headers, body, verified=verified)
        with self._lock:
            self.received.append(item)
            self._write_journal(item)
        return True

    def _write_journal(self, item: Received) -> None:
        if self.journal is None:
            return
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        if self.keep is not None and self._journal_lines >= 2 * self.keep:
            tmp = self.journal.with_suffix(".tmp")
            tmp.write_text("".join(r.to_line() + "\n" for r in self.received), encoding="utf-8")
            tmp.replace(self.journal)
            self._journal_lines = len(self.received)
            return
        with self.journal.open("a", encoding="utf-8") as out:
            out.write(item.to_line() + "\n")
        self._journal_lines += 1

    def up(self) -> None:
        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def _handler_for(receiver: DutyReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0") or 0)
            if length > MAX_BODY:
                self._answer(413, b"too large", "text/plain")
                return
            body = self.rfile.read(length)
            if receiver.take(self.path, dict(self.headers), body):
                self._answer(200, b"ok", "text/plain")
            else:
                self._answer(401, b"bad signature", "text/plain")

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/":
                page = render_page(receiver.summaries(), receiver.refused)
                self._answer(200, page.encode(), "text/html; charset=utf-8")
            elif path == "/api/received":
                body = json.dumps(receiver.summaries(), ensure_ascii=False).encode()
                self._answer(200, body, "application/json")
            elif path == "/healthz":
                self._answer(200, b"ok", "text/plain")
            else:
                self._answer(404, b"not found", "text/plain")

        def _answer(self, code: int, body: bytes, kind: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per delivery and per page refresh would flood the shift's log

    return Handler


_STYLE = """
body{font:14px system-ui,sans-serif;margin:1.5em;background:#10151c;color:#dde3ea}
h1{font-size:1.3em;margin:0 0 .3em}p{color:#9aa7b4;margin:.2em 0 1em}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35em .6em}
th{color:#9aa7b4;border-bottom:1px solid #2c3642}tr:nth-child(even){background:#161d26}
.critical{color:#ff6b6b;font-weight:600}.high{color:#ffa94d}.medium{color:#ffd43b}
.escalated{color:#ff8787;font-weight:600}.empty{color:#9aa7b4;padding:1em 0}
"""


def render_page(rows: list[dict[str, Any]], refused: int = 0) -> str:
    """The receiver's page: every delivery, newest first; refreshes itself every 5 s."""

    def cell(value: Any, css: str = "") -> str:
        attr = f' class="{html.escape(css)}"' if css else ""
        return f"<td{attr}>{html.escape('' if value is None else str(value))}</td>"

    body = []
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["received_at"]))
        signed = {True: "verified", False: "refused", None: "unsigned"}[r["verified"]]
        body.append(
            f'<tr class="delivery" data-alarm-id="{html.escape(str(r["alarm_id"]))}">'
            + cell(when)
            + cell(r["department"])
            + cell(r["level"])
            + cell(r["change"], r["change"])
            + cell(r["severity"], r["severity"])
            + cell(r["title"])
            + cell(r["camera"])
            + cell(r["alarm_id"])
            + cell(r["state"])
            + cell(signed)
            + "</tr>"
        )
    table = (
        "<table><thead><tr><th>received</th><th>department</th><th>for</th><th>change</th>"
        "<th>severity</th><th>alarm</th><th>camera</th><th>#</th><th>state</th>"
        "<th>signature</th></tr></thead><tbody>" + "".join(body) + "</tbody></table>"
        if body
        else '<div class="empty">No delivery yet.</div>'
    )
    note = f"{len(rows)} deliveries" + (f", {refused} refused (bad signature)" if refused else "")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="5"><title>Duty receiver</title>'
        f"<style>{_STYLE}</style></head><body><h1>Duty receiver (simulated duty phones)</h1>"
        f"<p>What the platform delivered to the departments' duty desks, officers and heads. "
        f"{html.escape(note)}.</p>{table}</body></html>"
    )


def demo_destinations(
    departments: list[tuple[str, str]], base_url: str, secret: str
) -> dict[str, dict[str, Any]]:
    """The demo's destinations (PUT /api/destinations/{id} bodies): for each (id, name)
    department, its duty desk, duty officer and head, all signed webhooks to this receiver."""
    out: dict[str, dict[str, Any]] = {}
    for dept_id, dept_name in departments:
        for level, who in LEVELS.items():
            out[f"demo-{dept_id}-l{level}"[:64]] = {
                "name": f"{dept_name}: {who} (demo duty receiver)",
                "department": dept_id,
                "kind": "webhook",
                "url": f"{base_url.rstrip('/')}/duty/{dept_id}/{level}",
                "secret": secret,
                "level": level,
            }
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m sharpeye.simulate.duty_receiver`: serve until SIGTERM/SIGINT."""
    import signal

    from sharpeye.logs import configure_logging
    from sharpeye.settings import get_settings

    configure_logging()
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=settings.receiver_port)
    parser.add_argument("--keep", type=int, default=1000, help="deliveries kept and shown")
    parser.add_argument(
        "--journal", type=Path, default=settings.data_dir / "receiver" / "received.jsonl"
    )
    args = parser.parse_args(argv)
    # The secret comes from the environment, never the command line (visible to `ps`).
    secret = os.environ.get(SECRET_ENV) or None
    receiver = DutyReceiver(
        port=args.port, host=args.host, secret=secret, keep=args.keep, journal=args.journal
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    receiver.up()
    print(f"{READY_LINE} {receiver.url('/')} (signed: {secret is not None})", flush=True)
    stop.wait()
    receiver.down()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
