"""A small local users API for the Cellflow tutorial (no network needed).

    GET  /users            ten users (JSON), the shape of the public placeholder users API
    GET  /users/<id>       one user
    POST /fail?count=N     the next N requests to /users fail with 503, to show retries
    GET  /health           {"status": "ok", "failing": N}

Run: python examples/users-api/server.py [--host 127.0.0.1] [--port 8765]
"""
import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from users import USERS  # noqa: E402


class _FailureSwitch:
    """How many of the next /users requests fail; shared by the handler threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._remaining = 0

    def set(self, count):
        with self._lock:
            self._remaining = count

    def take(self):
        with self._lock:
            if self._remaining > 0:
                self._remaining -= 1
                return True
            return False

    @property
    def remaining(self):
        with self._lock:
            return self._remaining


FAILURES = _FailureSwitch()


class UsersHandler(BaseHTTPRequestHandler):
    server_version = "CellflowUsersAPI/1.0"

    def _send(self, status, body):
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = urlparse(self.path).path.rstrip("/")
        if path == "/health":
            return self._send(200, {"status": "ok", "failing": FAILURES.remaining})
        if path == "/users" or path.startswith("/users/"):
            if FAILURES.take():
                return self._send(503, {"error": "service unavailable (failure switch)"})
            if path == "/users":
                return self._send(200, USERS)
            try:
                user_id = int(path.split("/")[2])
            except ValueError:
                return self._send(400, {"error": "user id must be a number"})
            user = next((u for u in USERS if u["id"] == user_id), None)
            return self._send(200, user) if user else self._send(404, {"error": f"no user {user_id}"})
        return self._send(404, {"error": f"no route {path}"})

    def do_POST(self):
        url = urlparse(self.path)
        if url.path.rstrip("/") == "/fail":
            raw = parse_qs(url.query).get("count", ["1"])[0]
            try:
                count = int(raw)
                if count < 0:
                    raise ValueError
            except ValueError:
                return self._send(400, {"error": f"count must be a whole number >= 0, got {raw!r}"})
            FAILURES.set(count)
            return self._send(200, {"failing": count})
        return self._send(404, {"error": f"no route {url.path}"})

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        if self.server.verbose:
            super().log_message(format, *args)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    httpd = ThreadingHTTPServer((args.host, args.port), UsersHandler)
    httpd.verbose = args.verbose
    host, port = httpd.server_address[:2]
    print(f"Users API listening on http://{host}:{port}/users", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
