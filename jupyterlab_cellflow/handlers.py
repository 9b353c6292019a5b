"""The lab's side of the Cellflow connection: log in with an API key, and reach the Cellflow server
through the Jupyter server, which adds the key. The browser never holds the key: it is kept in the
user's profile file (shared with the `cellflow` CLI, mode 0600) and in this process.

    GET    /cellflow/session        who you are logged in as (checks the key against /api/me)
    POST   /cellflow/session        {url, key}: check the key, then store the profile
    DELETE /cellflow/session        log out (the profile is removed)
    *      /cellflow/api/<path>     proxied to <url>/api/<path> with the key; event streams stream
"""
import json
from urllib.parse import parse_qsl, urlencode, urlparse

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .profile import delete_profile, read_profile, write_profile

CONNECT_TIMEOUT = 10
REQUEST_TIMEOUT = 60
# An event stream lives as long as the panel is open.
STREAM_TIMEOUT = 7 * 24 * 3600


def _describe_unreachable(url, error):
    return f"Cannot reach the Cellflow server at {url}: {error}"


async def _fetch_me(url, key):
    """GET <url>/api/me with the key; returns (status, body dict or None, error text or None)."""
    request = HTTPRequest(
        url.rstrip("/") + "/api/me",
        headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
        connect_timeout=CONNECT_TIMEOUT,
        request_timeout=REQUEST_TIMEOUT,
    )
    response = await _fetch(request)
    if response.code == 599:
        return 599, None, _describe_unreachable(url, response.error)
    try:
        body = json.loads(response.body or b"{}")
    except ValueError:
        body = None
    return response.code, body, None


async def _fetch(request):
    """Fetch without raising: an unreachable server comes back as code 599 with its error (Tornado 6
    raises connection errors even with raise_error=False)."""
    try:
        return await AsyncHTTPClient().fetch(request, raise_error=False)
    except HTTPClientError as error:  # a non-2xx answer is an answer
        return error.response
    except Exception as error:  # refused, DNS, timeout, reset
        return _Unreachable(error)


class _Unreachable:
    code = 599
    body = b""
    headers = {}

    def __init__(self, error):
        self.error = error


def _valid_server_url(url):
    parsed = urlparse(url)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc) and not parsed.query


class SessionHandler(APIHandler):
    @web.authenticated
    async def get(self):
        profile = read_profile()
        if profile is None:
            return self.finish({"loggedIn": False})
        code, body, error = await _fetch_me(profile["url"], profile["key"])
        if code == 200 and body:
            return self.finish({"loggedIn": True, "reachable": True, "url": profile["url"], "me": body})
        if code == 401:
            return self.finish(
                {
                    "loggedIn": False,
                    "url": profile["url"],
                    "error": "The Cellflow server no longer accepts the stored API key (revoked?). Log in again.",
                }
            )
        return self.finish(
            {
                "loggedIn": True,
                "reachable": False,
                "url": profile["url"],
                "error": error or f"The Cellflow server answered {code}",
            }
        )

    @web.authenticated
    async def post(self):
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, "The body must be JSON: {url, key}")
        url = str(data.get("url", "")).strip().rstrip("/")
        key = str(data.get("key", "")).strip()
        if not _valid_server_url(url):
            self.set_status(400)
            return self.finish({"error": "bad-url", "message": f'"{url}" is not a server URL (http://host:port)'})
        if not key:
            self.set_status(400)
            return self.finish({"error": "missing-key", "message": "Enter an API key"})
        code, body, error = await _fetch_me(url, key)
        if code == 599:
            self.set_status(502)
            return self.finish({"error": "unreachable", "message": error})
        if code == 401:
            self.set_status(401)
            return self.finish(
                {"error": "unauthorized", "message": "The Cellflow server refused this API key (wrong or revoked)"}
            )
        if code != 200 or not body:
            self.set_status(502)
            return self.finish(
                {"error": "bad-answer", "message": f"{url} answered {code}: is it a Cellflow server?"}
            )
        write_profile(url, key)
        self.finish({"loggedIn": True, "reachable": True, "url": url, "me": body})

    @web.authenticated
    def delete(self):
        delete_profile()
        self.set_status(204)
        self.finish()


class ProxyHandler(APIHandler):
    """Forwards a request to the Cellflow server with the stored key."""

    _closed = False

    def on_connection_close(self):
        self._closed = True

    async def _proxy(self, path):
        profile = read_profile()
        if profile is None:
            self.set_status(401)
            return self.finish({"error": "not-logged-in", "message": "Log in to a Cellflow server first"})
        target = profile["url"].rstrip("/") + "/api/" + path
        # JupyterLab's ServerConnection adds a bare timestamp (`?1795525017011`) to GETs against caches;
        # the Cellflow API refuses fields it does not know, so that one stays here.
        query = [
            (name, value)
            for name, value in parse_qsl(self.request.query, keep_blank_values=True)
            if not (name.isdigit() and value == "")
        ]
        if query:
            target += "?" + urlencode(query)
        accept = self.request.headers.get("Accept", "application/json")
        headers = {"Authorization": f"Bearer {profile['key']}", "Accept": accept}
        body = None
        if self.request.method in ("POST", "PUT", "PATCH"):
            # Tornado labels a bodiless POST as a form; the API takes JSON, so an empty body is {}.
            body = self.request.body or b"{}"
            headers["Content-Type"] = "application/json"
        if "Last-Event-ID" in self.request.headers:
            headers["Last-Event-ID"] = self.request.headers["Last-Event-ID"]
        if "text/event-stream" in accept:
            return await self._stream(target, headers)
        request = HTTPRequest(
            target,
            method=self.request.method,
            headers=headers,
            body=body,
            allow_nonstandard_methods=True,
            connect_timeout=CONNECT_TIMEOUT,
            request_timeout=REQUEST_TIMEOUT,
        )
        response = await _fetch(request)
        if response.code == 599:
            self.set_status(502)
            return self.finish({"error": "unreachable", "message": _describe_unreachable(profile["url"], response.error)})
        self.set_status(response.code)
        for name in ("Content-Type", "Content-Disposition"):
            if name in response.headers:
                self.set_header(name, response.headers[name])
        if response.code == 204:
            return self.finish()
        self.finish(response.body)

    async def _stream(self, target, headers):
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")

        def on_header(line):
            if line.startswith("HTTP/"):
                parts = line.split(" ", 2)
                if len(parts) > 1 and parts[1].isdigit():
                    self.set_status(int(parts[1]))

        def on_chunk(chunk):
            if self._closed:
                # The browser went away: raising here ends the upstream request too.
                raise ConnectionAbortedError("client closed the event stream")
            self.write(chunk)
            self.flush()

        request = HTTPRequest(
            target,
            headers=headers,
            connect_timeout=CONNECT_TIMEOUT,
            request_timeout=STREAM_TIMEOUT,
            header_callback=on_header,
            streaming_callback=on_chunk,
        )
        response = await _fetch(request)
        if response.code == 599 and not self._closed and not self._headers_written:
            self.set_status(502)
            self.set_header("Content-Type", "application/json")
            return self.finish({"error": "unreachable", "message": str(response.error)})
        if not self._closed:
            self.finish()

    get = post = patch = delete = put = web.authenticated(_proxy)


def setup_handlers(web_app):
    base_url = web_app.settings["base_url"]
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base_url, "cellflow", "session"), SessionHandler),
            (url_path_join(base_url, "cellflow", "api", "(.*)"), ProxyHandler),
        ],
    )
