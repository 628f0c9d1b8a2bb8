"""The container credentials endpoint, as the helper container runs it (standard library only:
this file is copied into the job's credentials folder and run there by ``python3``; it
imports nothing of smlocal's).

Usage: ``python3 credentials_server.py PORT FOLDER PATH``. Listens on 127.0.0.1:PORT of the
network it runs in (the job container's, which it shares), prints ``ready`` once it does,
and answers ``GET PATH`` carrying ``Authorization: <FOLDER/token>`` with the content of
``FOLDER/credentials.json``, read at each request (the runner replaces it before the
credentials expire). Everything else: 401 or 404, with no detail.
"""

from __future__ import annotations

import hmac
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def make_handler(folder: Path, path: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path != path:
                return self._answer(404, b'{"message": "not found"}')
            try:
                token = (folder / "token").read_bytes().strip()
                body = (folder / "credentials.json").read_bytes()
            except OSError:
                return self._answer(503, b'{"message": "no credentials yet"}')
            given = (self.headers.get("Authorization") or "").strip().encode()
            if not token or not hmac.compare_digest(given, token):
                return self._answer(401, b'{"message": "unauthorized"}')
            self._answer(200, body)

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # nothing of a request (its token) reaches the container's log

    return Handler


def main(argv: list[str]) -> int:
    port, folder, path = int(argv[1]), Path(argv[2]), argv[3]
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(folder, path))
    print("ready", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
