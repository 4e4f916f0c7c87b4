"""Runs the sandbox as its own process (threaded: a held answer must not block others)."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from werkzeug.serving import make_server

from integrations.pse_sandbox.app import create_app
from zona_privada.settings import load_pse_settings


def main(argv: list[str] | None = None) -> int:
    settings = load_pse_settings()
    parser = argparse.ArgumentParser(prog="python -m integrations.pse_sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--state-dir", type=Path, default=Path("var") / "pse_sandbox")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s pse-sandbox %(levelname)s %(message)s")
    app = create_app(args.state_dir, settings)
    server = make_server(args.host, args.port, app, threaded=True)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    print(f"pse-sandbox listening on http://{args.host}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
