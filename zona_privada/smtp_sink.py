"""Development SMTP sink: every message is kept as a readable .eml file under
`<state>/mail/`, newest last, and a line is printed, so a person (or a test) reads it."""
from __future__ import annotations

import argparse
import signal
import threading
import time
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from pathlib import Path

from aiosmtpd.controller import Controller


class MaildirHandler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._counter = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, N802
        raw = envelope.original_content or envelope.content
        # Headers only: the line printed needs the subject, and parsing whole bodies cost
        # this sink more CPU than the payments it receives receipts for.
        subject = str(make_header(decode_header(BytesHeaderParser().parsebytes(raw)["subject"] or "")))
        with self._lock:
            self._counter += 1
            name = f"{time.time_ns()}-{self._counter:06d}.eml"
        tmp = self.folder / f".{name}.tmp"
        tmp.write_bytes(raw)
        tmp.rename(self.folder / name)  # atomic: readers never see half a message
        print(f"[smtp] to={','.join(envelope.rcpt_tos)} subject={subject} file={name}", flush=True)
        return "250 Message accepted for delivery"


def read_messages(folder: Path) -> list[dict[str, str]]:
    """Messages in arrival order as dicts (to, subject, body): for tests and people."""
    out = []
    for path in sorted(folder.glob("*.eml")):
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        body = msg.get_body(preferencelist=("plain", "html"))
        out.append(
            {"file": path.name, "to": str(msg["to"]), "subject": str(msg["subject"]),
             "body": body.get_content() if body else ""}
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description="SMTP sink that stores messages as .eml files")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--folder", type=Path, required=True)
    args = parser.parse_args()
    controller = Controller(MaildirHandler(args.folder), hostname=args.host, port=args.port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"[smtp] listening on {args.host}:{args.port}, storing in {args.folder}", flush=True)
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
