"""The lab's proxy to the Cellflow server (jupyterlab_cellflow/handlers.py): authentication (token,
XSRF), authorization (the "cellflow" resource), the paths it forwards and the ones it refuses, and the
API key that never reaches a response."""
import asyncio
import json
from http.cookies import SimpleCookie
from urllib.parse import unquote, urlencode

import pytest
from jupyter_server.auth.authorizer import Authorizer

from jupyterlab_cellflow.handlers import BadPath, api_path
from jupyterlab_cellflow.profile import profile_path, read_profile, write_profile

from .conftest import KEY, ME


def assert_no_key(response):
    body = response.body or b""
    assert KEY.encode() not in body, body
    for name, value in response.headers.get_all():
        assert KEY not in value, (name, value)


@pytest.fixture
def raw_fetch(http_server_client, jp_base_url, jp_auth_header):
    """A request to the lab with the path exactly as given (jp_fetch would percent-encode it), with the
    lab's token unless auth=False; never raises on an error status."""

    def fetch(path, method="GET", body=None, headers=None, auth=True, **kwargs):
        all_headers = dict(jp_auth_header) if auth else {}
        all_headers.update(headers or {})
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = ""
        return http_server_client.fetch(
            jp_base_url + path,
            method=method,
            body=body,
            headers=all_headers,
            raise_error=False,
            follow_redirects=False,
            request_timeout=20,
            **kwargs,
        )

    return fetch


def body_json(response):
    return json.loads(response.body)


# --- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "cellflow/session"),
        ("POST", "cellflow/session"),
        ("DELETE", "cellflow/session"),
        ("GET", "cellflow/api/flows"),
        ("POST", "cellflow/api/runs"),
    ],
)
async def test_without_token_is_403_and_not_forwarded(raw_fetch, logged_in, method, path):
    body = json.dumps({"url": logged_in.url, "key": KEY}) if path == "cellflow/session" and method == "POST" else None
    response = await raw_fetch(path, method=method, body=body, auth=False)
    assert response.code == 403
    assert logged_in.requests == []
    assert read_profile() is not None
    assert_no_key(response)


async def test_wrong_token_is_403(raw_fetch, logged_in):
    response = await raw_fetch("cellflow/api/flows", headers={"Authorization": "token not-the-token"})
    assert response.code == 403
    assert logged_in.requests == []
    assert_no_key(response)


async def _cookie_login(raw_fetch, jp_serverapp):
    """Log in through the lab's login form as a browser does; returns (cookie header, xsrf token)."""
    assert not jp_serverapp.web_app.settings.get("disable_check_xsrf", False)
    assert jp_serverapp.web_app.settings.get("xsrf_cookies")
    page = await raw_fetch("login", auth=False)
    assert page.code == 200
    cookies = SimpleCookie()
    for header in page.headers.get_list("Set-Cookie"):
        cookies.load(header)
    xsrf = cookies["_xsrf"].value
    token = jp_serverapp.identity_provider.token
    login = await raw_fetch(
        "login",
        method="POST",
        auth=False,
        body=urlencode({"_xsrf": xsrf, "password": token}),
        headers={"Cookie": f"_xsrf={xsrf}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert login.code == 302, login.body
    for header in login.headers.get_list("Set-Cookie"):
        cookies.load(header)
    user_cookies = [name for name in cookies if name.startswith("username-")]
    assert user_cookies, list(cookies)
    cookie_header = "; ".join(f"{name}={cookies[name].value}" for name in [*user_cookies, "_xsrf"])
    return cookie_header, xsrf


async def test_cookie_session_post_needs_xsrf(raw_fetch, jp_serverapp, capture, cellflow_config_dir):
    cookie, xsrf = await _cookie_login(raw_fetch, jp_serverapp)
    login_body = json.dumps({"url": capture.url, "key": KEY})

    # The cookie alone authenticates a GET ...
    response = await raw_fetch("cellflow/session", auth=False, headers={"Cookie": cookie})
    assert response.code == 200
    assert body_json(response) == {"loggedIn": False, "localAvailable": False}

    # ... but a POST without the X-XSRFToken header is refused before anything happens.
    response = await raw_fetch(
        "cellflow/session", method="POST", body=login_body, auth=False, headers={"Cookie": cookie}
    )
    assert response.code == 403
    assert_no_key(response)
    assert capture.requests == []
    assert read_profile() is None

    # The same request with the header logs in.
    response = await raw_fetch(
        "cellflow/session",
        method="POST",
        body=login_body,
        auth=False,
        headers={"Cookie": cookie, "X-XSRFToken": xsrf},
    )
    assert response.code == 200, response.body
    assert body_json(response)["me"] == ME
    assert_no_key(response)
    assert read_profile() == {"url": capture.url, "key": KEY}

    # The proxy is held to the same rule.
    capture.requests.clear()
    response = await raw_fetch("cellflow/api/runs", method="POST", body="{}", auth=False, headers={"Cookie": cookie})
    assert response.code == 403
    assert capture.requests == []
    response = await raw_fetch(
        "cellflow/api/runs", method="POST", body="{}", auth=False, headers={"Cookie": cookie, "X-XSRFToken": xsrf}
    )
    assert response.code == 200
    assert capture.paths() == ["/api/runs"]
    assert_no_key(response)


# --- authorization ------------------------------------------------------------------------------


class DenyCellflow(Authorizer):
    """A lab with roles where this user may use the lab but not the owner's Cellflow connection."""

    def is_authorized(self, handler, user, action, resource):
        return resource != "cellflow"


class ReadOnlyCellflow(Authorizer):
    def is_authorized(self, handler, user, action, resource):
        return resource != "cellflow" or action == "read"


@pytest.mark.parametrize("cellflow_authorizer", [DenyCellflow])
@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "cellflow/session"),
        ("POST", "cellflow/session"),
        ("DELETE", "cellflow/session"),
        ("GET", "cellflow/api/flows"),
        ("GET", "cellflow/api/events"),
        ("POST", "cellflow/api/runs"),
        ("PATCH", "cellflow/api/schedules/s-1"),
        ("PUT", "cellflow/api/secrets/s-1"),
        ("DELETE", "cellflow/api/keys/k-1"),
    ],
)
async def test_authorizer_denying_cellflow_is_403_and_not_forwarded(raw_fetch, logged_in, method, path):
    body = json.dumps({"url": logged_in.url, "key": KEY}) if path == "cellflow/session" and method == "POST" else None
    response = await raw_fetch(path, method=method, body=body)
    assert response.code == 403
    assert logged_in.requests == []
    assert read_profile() == {"url": logged_in.url, "key": KEY}
    assert_no_key(response)
    # The rest of the lab still works for this user.
    assert (await raw_fetch("api/contents")).code == 200


@pytest.mark.parametrize("cellflow_authorizer", [ReadOnlyCellflow])
async def test_authorizer_actions_follow_each_method(raw_fetch, logged_in):
    # A read first: each method must be checked as its own action, not as the first one seen.
    response = await raw_fetch("cellflow/api/flows")
    assert response.code == 200
    assert logged_in.paths() == ["/api/flows"]
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = await raw_fetch("cellflow/api/flows/f-1", method=method)
        assert response.code == 403, method
        assert_no_key(response)
    response = await raw_fetch("cellflow/session", method="DELETE")
    assert response.code == 403
    assert logged_in.paths() == ["/api/flows"]
    assert profile_path().exists()


# --- paths --------------------------------------------------------------------------------------

PATH_TRICKS = [
    "flows/../../admin",
    "flows/..",
    "flows/%2e%2e/%2e%2e/admin",
    "flows/%2E%2e/admin",
    "flows/.%2e/admin",
    "flows/%2e./admin",
    "flows/a..b",
    "runs/r-1%3fstate=Failed",
    "runs/r-1%3Fx",
    "runs/r-1%23frag",
    "runs/r-1%00",
    "flows%2f..%2f..%2fadmin",
    "flows/x%2F..%2F..%2Fadmin",
    "runs%2Fr-1",
    "flows\\..\\..\\admin",
    "flows/%5c..%5cadmin",
    "flows/%252e%252e/admin",
    "flows/./runs",
]


@pytest.mark.parametrize("trick", PATH_TRICKS)
async def test_path_tricks_are_400_and_not_forwarded(raw_fetch, logged_in, trick):
    response = await raw_fetch("cellflow/api/" + trick)
    assert response.code == 400, (trick, response.code, response.body)
    body = body_json(response)
    assert body["error"] == "bad-path"
    assert trick in body["message"]
    assert logged_in.requests == []
    assert_no_key(response)


@pytest.mark.parametrize("method", ["POST", "DELETE"])
async def test_path_tricks_other_methods(raw_fetch, logged_in, method):
    response = await raw_fetch("cellflow/api/runs/%2e%2e/%2e%2e/admin", method=method)
    assert response.code == 400
    assert logged_in.requests == []


@pytest.mark.parametrize("raw", [b"runs/r-1\x00/x", b"flows/a#/../../admin"])
async def test_raw_nul_and_hash_are_400_and_not_forwarded(
    jp_serverapp, http_server_client, jp_base_url, jp_auth_header, logged_in, raw
):
    # An HTTP client would refuse to send these, so write the request line by hand. (Tornado's own parser
    # already refuses the raw NUL with a bare 400; test_api_path_refuses covers the handler's check.)
    port = http_server_client.get_http_port()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        b"GET " + jp_base_url.encode() + b"cellflow/api/" + raw + b" HTTP/1.1\r\n"
        + f"Host: 127.0.0.1:{port}\r\nAuthorization: {jp_auth_header['Authorization']}\r\n".encode()
        + b"Connection: close\r\n\r\n"
    )
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 20)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert KEY.encode() not in answer
    assert logged_in.requests == []


@pytest.mark.parametrize("raw", ["runs/r-1\x00", "flows/a#b", "flows\\x", *PATH_TRICKS])
def test_api_path_refuses(raw):
    with pytest.raises(BadPath):
        api_path(raw, unquote(raw))


def test_api_path_re_encodes_segments():
    assert api_path("flows/f-1/runs", "flows/f-1/runs") == "flows/f-1/runs"
    assert api_path("flows/a%20b", "flows/a b") == "flows/a%20b"
    assert api_path("openapi.json", "openapi.json") == "openapi.json"


@pytest.mark.parametrize("path", ["admin", "api/flows", "", "Flows", "me2", "openapi.yaml", "%66lows%2e"])
async def test_unknown_first_segment_is_404_and_not_forwarded(raw_fetch, logged_in, path):
    response = await raw_fetch("cellflow/api/" + path)
    assert response.code == 404, (path, response.code, response.body)
    assert logged_in.requests == []
    assert_no_key(response)


async def test_flows_forwarded_with_the_key(jp_fetch, logged_in):
    response = await jp_fetch("cellflow", "api", "flows")
    assert response.code == 200
    (seen,) = logged_in.requests
    assert seen["method"] == "GET"
    assert seen["path"] == "/api/flows"
    assert seen["headers"]["Authorization"] == f"Bearer {KEY}"
    # The stand-in echoed the key back; the lab does not pass it on.
    assert_no_key(response)
    assert body_json(response)["echo"]["headers"]["Authorization"] == "Bearer [redacted]"


async def test_query_forwarded(jp_fetch, logged_in):
    response = await jp_fetch("cellflow", "api", "runs", params={"state": "Failed"})
    assert response.code == 200
    assert logged_in.paths() == ["/api/runs?state=Failed"]
    assert logged_in.requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"
    assert_no_key(response)


async def test_query_string_as_sent_by_the_lab(raw_fetch, logged_in):
    # JupyterLab's cache-busting bare timestamp stays in the lab; the rest is re-encoded.
    response = await raw_fetch("cellflow/api/runs/r-1/logs?after=12&1795525017011&q=a%20b")
    assert response.code == 200
    assert logged_in.paths() == ["/api/runs/r-1/logs?after=12&q=a+b"]
    assert_no_key(response)


async def test_nested_path_and_body_forwarded(jp_fetch, logged_in):
    response = await jp_fetch(
        "cellflow", "api", "flows", "f-1", "runs", method="POST", body=json.dumps({"parameters": {"n": 1}})
    )
    assert response.code == 200
    (seen,) = logged_in.requests
    assert (seen["method"], seen["path"]) == ("POST", "/api/flows/f-1/runs")
    assert json.loads(seen["body"]) == {"parameters": {"n": 1}}
    assert seen["headers"]["Authorization"] == f"Bearer {KEY}"
    assert_no_key(response)


async def test_event_stream_forwarded_without_key(jp_fetch, logged_in):
    response = await jp_fetch("cellflow", "api", "events", headers={"Accept": "text/event-stream"})
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert b"event: hello" in response.body
    assert logged_in.paths() == ["/api/events"]
    assert logged_in.requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"
    assert_no_key(response)


async def test_proxy_without_profile_is_401(jp_fetch, capture, cellflow_config_dir):
    response = await jp_fetch("cellflow", "api", "flows", raise_error=False)
    assert response.code == 401
    assert body_json(response)["error"] == "not-logged-in"
    assert capture.requests == []


# --- session ------------------------------------------------------------------------------------


async def test_session_login_checks_key_and_never_returns_it(jp_fetch, capture, cellflow_config_dir):
    response = await jp_fetch("cellflow", "session")
    assert body_json(response) == {"loggedIn": False, "localAvailable": False}

    response = await jp_fetch("cellflow", "session", method="POST", body=json.dumps({"url": capture.url, "key": KEY}))
    assert response.code == 200
    assert body_json(response) == {"loggedIn": True, "reachable": True, "url": capture.url, "me": ME}
    assert_no_key(response)
    assert capture.paths() == ["/api/me"]
    assert capture.requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"
    assert read_profile() == {"url": capture.url, "key": KEY}
    assert profile_path().stat().st_mode & 0o077 == 0

    response = await jp_fetch("cellflow", "session")
    assert body_json(response) == {
        "loggedIn": True,
        "reachable": True,
        "url": capture.url,
        "me": ME,
        "localAvailable": False,
    }
    assert_no_key(response)

    response = await jp_fetch("cellflow", "session", method="DELETE")
    assert response.code == 204
    assert read_profile() is None


async def test_session_wrong_key_is_401_and_not_stored(jp_fetch, capture, cellflow_config_dir):
    wrong = KEY + "-wrong"
    response = await jp_fetch(
        "cellflow", "session", method="POST", body=json.dumps({"url": capture.url, "key": wrong}), raise_error=False
    )
    assert response.code == 401
    assert wrong.encode() not in response.body
    assert_no_key(response)
    assert read_profile() is None


async def test_session_unreachable_and_bad_input_never_echo_key(jp_fetch, cellflow_config_dir):
    for data, code in [
        ({"url": "http://127.0.0.1:9", "key": KEY}, 502),
        ({"url": "not a url", "key": KEY}, 400),
        ({"url": "http://127.0.0.1:9", "key": KEY + " with spaces"}, 400),
        ({"url": "http://127.0.0.1:9", "key": ""}, 400),
    ]:
        response = await jp_fetch("cellflow", "session", method="POST", body=json.dumps(data), raise_error=False)
        assert response.code == code, (data, response.body)
        assert_no_key(response)
    assert read_profile() is None


async def test_session_with_revoked_key(jp_fetch, capture, cellflow_config_dir):
    write_profile(capture.url, KEY + "-revoked")
    response = await jp_fetch("cellflow", "session")
    body = body_json(response)
    assert body["loggedIn"] is False and body["url"] == capture.url
    assert (KEY + "-revoked").encode() not in response.body
    assert_no_key(response)
