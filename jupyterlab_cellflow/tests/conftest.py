"""Fixtures for the lab's server extension: a Jupyter server (pytest-jupyter, token auth and XSRF checks
as shipped) with jupyterlab_cellflow enabled, and a capture HTTP server standing in for Cellflow."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jupyterlab_cellflow.profile import read_profile, write_profile

pytest_plugins = ["pytest_jupyter.jupyter_server"]

# The API key the capture server accepts. It must never show up in anything the lab sends back.
KEY = "cfk_test_0123456789abcdefSECRET"
ME = {"user": {"id": "u-1", "name": "Ada"}, "workspace": {"id": "w-1", "name": "Lab"}}


class CaptureServer:
    """A stand-in Cellflow server on 127.0.0.1 that records every request. /api/me answers the identity
    for KEY (401 otherwise); every other path answers a careless echo of the request, Authorization
    header included, so that a proxy which passed upstream bodies on untouched would leak the key."""

    def __init__(self):
        self.requests = []
        capture = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8") if length else ""
                record = {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers.items()),
                    "body": body,
                }
                capture.requests.append(record)
                if self.path.split("?", 1)[0] == "/api/me":
                    if self.headers.get("Authorization") == f"Bearer {KEY}":
                        return self._json(200, ME)
                    return self._json(401, {"error": "unauthorized"})
                if "text/event-stream" in (self.headers.get("Accept") or ""):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    self.wfile.write(b"event: hello\ndata: " + json.dumps(record).encode() + b"\n\n")
                    return None
                return self._json(200, {"echo": record})

            def _json(self, code, data):
                payload = json.dumps(data).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def paths(self):
        return [r["path"] for r in self.requests]


@pytest.fixture
def capture():
    server = CaptureServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def cellflow_config_dir(tmp_path, monkeypatch):
    """Where the lab keeps the Cellflow profile (profile.py honours CELLFLOW_CONFIG_DIR)."""
    folder = tmp_path / "cellflow-config"
    monkeypatch.setenv("CELLFLOW_CONFIG_DIR", str(folder))
    return folder


@pytest.fixture
def cellflow_authorizer():
    """The lab's ServerApp.authorizer_class; None keeps jupyter_server's default (allow all)."""
    return None


@pytest.fixture
def jp_server_config(cellflow_config_dir, cellflow_authorizer):
    # Local mode off: these tests are about the profile and the proxy (test_local_server.py turns it on).
    config = {
        "ServerApp": {"jpserver_extensions": {"jupyterlab_cellflow": True}},
        "CellflowLocalServer": {"enabled": False},
    }
    if cellflow_authorizer is not None:
        config["ServerApp"]["authorizer_class"] = cellflow_authorizer
    return config


@pytest.fixture
def logged_in(capture, cellflow_config_dir):
    """A stored profile pointing at the capture server."""
    write_profile(capture.url, KEY)
    assert read_profile() == {"url": capture.url, "key": KEY}
    return capture
