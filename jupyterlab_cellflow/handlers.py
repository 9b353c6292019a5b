"""The lab's side of the Cellflow connection: log in with an API key, and reach the Cellflow server
through the Jupyter server, which adds the key. The browser never holds the key: it is kept in the
user's profile file (shared with the `cellflow` CLI, mode 0600) and in this process.

    GET    /cellflow/session        who you are logged in as (checks the key against /api/me)
    POST   /cellflow/session        {url, key}: check the key, then store the profile
    DELETE /cellflow/session        log out (the profile is removed)
    *      /cellflow/api/<path>     proxied to <url>/api/<path> with the key; event streams stream

Only the API's own paths are forwarded: a path that could step out of /api on the Cellflow server
(`..`, encoded slashes, `?`, `#`, NUL, backslashes) is refused with 400 and an unknown first segment with
404, both without a request upstream. Every method needs an authenticated user whom the server's
Authorizer allows on the resource "cellflow" (read for GET, write for the rest), so a lab with
restricted roles does not lend the owner's key to everyone. The key is never written to a response.
"""
import json
import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlparse

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .local_server import LocalServerError
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


AUTH_RESOURCE = "cellflow"

# The first segment of every path the Cellflow API serves; anything else is not forwarded.
API_ROOTS = frozenset(
    {
        "me",
        "flows",
        "runs",
        "schedules",
        "events",
        "secrets",
        "openapi.json",
        "health",
        "workspaces",
        "keys",
        "notifications",
        "server",
        "workers",
    }
)

# In the raw (still percent-encoded) path: encoded slash, backslash, `?`, `#` and NUL, a raw backslash,
# `#` or NUL, and a dot segment spelt with any mix of `.` and `%2e`.
_RAW_FORBIDDEN = re.compile(r"%(2f|5c|3f|23|00)|[\\#\x00]|(^|/)(\.|%2e){2}(/|$)", re.IGNORECASE)
# In the decoded path: `..` anywhere, a `.` segment, and characters that only an encoding could bring
# (and that the Cellflow server would read differently): `?`, `#`, backslash, `%` (a double encoding), controls.
_DECODED_FORBIDDEN = re.compile(r"\.\.|(^|/)\.(/|$)|[?#\\%\x00-\x1f\x7f]")


class BadPath(Exception):
    pass


def api_path(raw, decoded):
    """Check a proxied path, raw (as sent) and decoded (as Tornado's route group gives it); returns the
    path to append to <url>/api/, re-encoded segment by segment. Raises BadPath for a path that could
    leave the API, KeyError for one outside the API's first segments."""
    if _RAW_FORBIDDEN.search(raw) or _DECODED_FORBIDDEN.search(decoded) or _DECODED_FORBIDDEN.search(unquote(raw)):
        raise BadPath(raw)
    segments = decoded.split("/")
    if segments[0] not in API_ROOTS:
        raise KeyError(segments[0])
    return "/".join(quote(segment, safe="!$&'()*+,;=:@") for segment in segments)


def _scrub(data, key):
    """Remove the key from text or bytes about to be sent to the browser."""
    if not key:
        return data
    if isinstance(data, bytes):
        return data.replace(key.encode("utf-8"), b"[redacted]")
    return str(data).replace(key, "[redacted]")


def _valid_key(key):
    # It goes into an HTTP header: printable ASCII, no spaces.
    return bool(re.fullmatch(r"[\x21-\x7e]+", key))


def _valid_server_url(url):
    # Any host: a team's server is reached by its name or address, not only on loopback. The Host
    # check against DNS rebinding is the Cellflow server's (--allowed-host), and the key only ever
    # goes to the URL the lab's user typed.
    parsed = urlparse(url)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc) and not parsed.query


def _refusal(url, code, body):
    """The Cellflow server's 403 (its Host check refusing the name it was reached by) as a message: the
    server's own says which setting to start it with, which is what the user needs to pass on."""
    if code == 403 and isinstance(body, dict) and body.get("error") == "forbidden":
        return f"{url} refused the request: {body.get('message', '')}"
    return None


def _local_server(handler):
    """The lab's local Cellflow server (local_server.py), or None when local mode is off."""
    local = handler.settings.get("cellflow_local_server")
    return local if local is not None and local.enabled else None


async def _connection(handler):
    """Where requests go: the profile's server, else the local server (started on demand), else None.
    Returns {url, key, local}; raises LocalServerError when the local server cannot start."""
    profile = read_profile()
    if profile is not None:
        return {**profile, "local": False}
    local = _local_server(handler)
    if local is None:
        return None
    url, key = await local.ensure()
    return {"url": url, "key": key, "local": True}


class SessionHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def get(self):
        # Whether logging out falls back to the local server (the panel then asks for the session again).
        self._local_available = _local_server(self) is not None
        if self._local_available and read_profile() is None and _local_server(self).start_soon():
            # A first start takes seconds (tens on a new data folder): answer at once so the panel can say
            # so; its next session request waits for the server.
            return self._answer({"loggedIn": False, "local": True, "starting": True})
        try:
            profile = await _connection(self)
        except LocalServerError as error:
            return self._answer({"loggedIn": False, "local": True, "error": str(error)})
        if profile is None:
            return self._answer({"loggedIn": False})
        if profile["local"]:
            # The panel says "local" and offers to log in to another server; the key stays here.
            code, body, error = await _fetch_me(profile["url"], profile["key"])
            session = {"loggedIn": True, "local": True, "url": profile["url"]}
            if code == 200 and body:
                return self._answer({**session, "reachable": True, "me": body})
            error = error or f"The local Cellflow server answered {code}"
            return self._answer({**session, "reachable": False, "error": _scrub(error, profile["key"])})
        code, body, error = await _fetch_me(profile["url"], profile["key"])
        if code == 200 and body:
            return self._answer({"loggedIn": True, "reachable": True, "url": profile["url"], "me": body})
        if code == 401:
            return self._answer(
                {
                    "loggedIn": False,
                    "url": profile["url"],
                    "error": "The Cellflow server no longer accepts the stored API key (revoked?). Log in again.",
                }
            )
        if error is None:
            error = _refusal(profile["url"], code, body) or f"The Cellflow server answered {code}"
        return self._answer(
            {"loggedIn": True, "reachable": False, "url": profile["url"], "error": _scrub(error, profile["key"])}
        )

    def _answer(self, session):
        return self.finish({**session, "localAvailable": self._local_available})

    @web.authenticated
    @authorized
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
        if not _valid_key(key):
            self.set_status(400)
            return self.finish({"error": "bad-key", "message": "An API key has no spaces or control characters"})
        code, body, error = await _fetch_me(url, key)
        if code == 599:
            self.set_status(502)
            return self.finish({"error": "unreachable", "message": _scrub(error, key)})
        if code == 401:
            self.set_status(401)
            return self.finish(
                {"error": "unauthorized", "message": "The Cellflow server refused this API key (wrong or revoked)"}
            )
        refusal = _refusal(url, code, body)
        if refusal:
            self.set_status(502)
            return self.finish({"error": "forbidden", "message": _scrub(refusal, key)})
        if code != 200 or not body:
            self.set_status(502)
            return self.finish(
                {"error": "bad-answer", "message": f"{url} answered {code}: is it a Cellflow server?"}
            )
        write_profile(url, key)
        self.finish({"loggedIn": True, "reachable": True, "url": url, "me": body})

    @web.authenticated
    @authorized
    def delete(self):
        delete_profile()
        self.set_status(204)
        self.finish()


class ProxyHandler(APIHandler):
    """Forwards a request to the Cellflow server with the stored key."""

    auth_resource = AUTH_RESOURCE
    _closed = False

    def on_connection_close(self):
        self._closed = True

    def _raw_path(self):
        """The proxied part of the request's path as it was sent, before Tornado's decoding."""
        raw = self.request.uri.split("?", 1)[0]
        prefix = url_path_join(self.base_url, "cellflow", "api") + "/"
        for candidate in (prefix, quote(prefix, safe="/")):
            if raw.startswith(candidate):
                return raw[len(candidate) :]
        # The route matched, so the prefix is there in some spelling: check the whole path then.
        marker = "/cellflow/api/"
        return raw[raw.index(marker) + len(marker) :] if marker in raw else raw

    async def _proxy(self, path):
        raw = self._raw_path()
        try:
            path = api_path(raw, path)
        except BadPath:
            self.set_status(400)
            return self.finish({"error": "bad-path", "message": f'"{raw}" is not a Cellflow API path'})
        except KeyError:
            self.set_status(404)
            return self.finish({"error": "not-found", "message": f'"{raw}" is not a Cellflow API path'})
        try:
            profile = await _connection(self)
        except LocalServerError as error:
            self.set_status(502)
            return self.finish({"error": "local-server", "message": str(error)})
        if profile is None:
            self.set_status(401)
            return self.finish({"error": "not-logged-in", "message": "Log in to a Cellflow server first"})
        self._key = profile["key"]
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
            message = _describe_unreachable(profile["url"], response.error)
            return self.finish({"error": "unreachable", "message": _scrub(message, self._key)})
        self.set_status(response.code)
        for name in ("Content-Type", "Content-Disposition"):
            if name in response.headers:
                self.set_header(name, response.headers[name])
        if response.code == 204:
            return self.finish()
        self.finish(_scrub(response.body or b"", self._key))

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
            self.write(_scrub(chunk, self._key))
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
            return self.finish({"error": "unreachable", "message": _scrub(str(response.error), self._key)})
        if not self._closed:
            self.finish()

    # One wrapper per method: `authorized` settles its action (read/write) on its first call.
    get = web.authenticated(authorized(_proxy))
    post = web.authenticated(authorized(_proxy))
    patch = web.authenticated(authorized(_proxy))
    delete = web.authenticated(authorized(_proxy))
    put = web.authenticated(authorized(_proxy))


def setup_handlers(web_app, local_server=None):
    web_app.settings["cellflow_local_server"] = local_server
    base_url = web_app.settings["base_url"]
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base_url, "cellflow", "session"), SessionHandler),
            (url_path_join(base_url, "cellflow", "api", "(.*)"), ProxyHandler),
        ],
    )
