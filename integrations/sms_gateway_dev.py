"""A tiny development SMS gateway: it answers the API `integrations/sms.py` speaks and
writes every message as a readable text file under its folder (`<state>/sms/`), so a
person (or a test) reads the temporary key the member would have received.

    python -m integrations.sms_gateway_dev --port 8026 --folder var/sms
"""
from __future__ import annotations

import argparse
import json
import re
import signal
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MAX_BODY_BYTES = 16 * 1024
MAX_TEXT_CHARS = 1000
_PHONE = re.compile(r"^\+?[0-9]{7,15}$")


class MessageStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._counter = 0
        self._by_key: dict[str, str] = {}

    def save(self, to: str, text: str, idempotency_key: str | None) -> tuple[str, bool]:
        """Returns (id, created); the same idempotency key returns the first id."""
        with self._lock:
            if idempotency_key and idempotency_key in self._by_key:
                return self._by_key[idempotency_key], False
            self._counter += 1
            message_id = f"{time.time_ns()}-{self._counter:06d}"
            content = (
                f"Para: {to}\nFecha: {datetime.now(timezone.utc).isoformat(timespec='seconds')}\n"
                f"Id: {message_id}\n\n{text}\n"
            )
            tmp = self.folder / f".{message_id}.tmp"
            tmp.write_text(content, encoding="utf-8")
            tmp.rename(self.folder / f"{message_id}.txt")  # readers never see half a message
            if idempotency_key:
                self._by_key[idempotency_key] = message_id
            return message_id, True


def read_messages(folder: Path) -> list[dict[str, str]]:
    """Messages in arrival order as dicts (to, text): for tests and people."""
    out = []
    for path in sorted(folder.glob("*.txt")):
        head, _, text = path.read_text(encoding="utf-8").partition("\n\n")
        fields = dict(line.split(": ", 1) for line in head.splitlines() if ": " in line)
        out.append({"file": path.name, "to": fields.get("Para", ""), "text": text.rstrip("\n")})
    return out


def make_handler(store: MessageStore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "zona-sms-dev/1"

        def _reply(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/healthz":
                self._reply(200, {"status": "ok"})
            else:
                self._reply(404, {"error": "not found"})

        def do_POST(self) -> None:  # noqa: N802
            if self.path != "/messages":
                self._reply(404, {"error": "not found"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 < length <= MAX_BODY_BYTES:
                self._reply(413 if length > MAX_BODY_BYTES else 400, {"error": "bad length"})
                return
            try:
                data = json.loads(self.rfile.read(length))
                to, text = str(data["to"]), str(data["text"])
            except (ValueError, KeyError, TypeError):
                self._reply(400, {"error": "expected JSON {to, text}"})
                return
            if not _PHONE.match(to) or not text or len(text) > MAX_TEXT_CHARS:
                self._reply(422, {"error": "invalid number or text"})
                return
            message_id, created = store.save(to, text, self.headers.get("Idempotency-Key"))
            print(f"[sms] to={to} id={message_id}{'' if created else ' (repeat)'}", flush=True)
            self._reply(201 if created else 200, {"id": message_id})

        def log_message(self, fmt: str, *args: object) -> None:  # quiet: one line per message above
            pass

    return Handler


def serve(host: str, port: int, folder: Path) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), make_handler(MessageStore(folder)))
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description="Development SMS gateway that stores messages as text files")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8026)
    parser.add_argument("--folder", type=Path, required=True)
    args = parser.parse_args()
    server = serve(args.host, args.port, args.folder)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"[sms] listening on {args.host}:{args.port}, storing in {args.folder}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
