"""The lab logging in to a Cellflow server by its name (issue 17): a real `cellflow server` bound to
127.0.0.2 with `--allowed-host cellflow-team.test`, and the lab's login handler given
http://cellflow-team.test:PORT. The name resolves to 127.0.0.2 through a resolver override on Tornado's
HTTP client (the handler's), not /etc/hosts: the request really goes to 127.0.0.2 and carries the name
as its Host, which the server checks."""
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient
from tornado.netutil import DefaultLoopResolver, OverrideResolver

from jupyterlab_cellflow.handlers import API_ROOTS
from jupyterlab_cellflow.profile import read_profile, write_profile

NAME = "cellflow-team.test"
ADDRESS = "127.0.0.2"
ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "server" / "bin" / "cellflow.js"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="127.0.0.2 is loopback on Linux only")


def _node():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the Cellflow server needs it")
    return node


def _built():
    """The server as users run it (server/lib); scripts/test.sh builds it before these tests run."""
    if not (ROOT / "server" / "lib").is_dir():
        subprocess.run(["npm", "run", "--silent", "build"], cwd=ROOT / "server", check=True)


def _env(config_dir):
    env = {name: value for name, value in os.environ.items() if not name.startswith("CELLFLOW_")}
    env["CELLFLOW_CONFIG_DIR"] = str(config_dir)
    env["VIRTUAL_ENV"] = str(ROOT / ".venv")
    return env


class TeamServer:
    def __init__(self, tmp_path, extra_args):
        self.data_dir = tmp_path / "data"
        self.config_dir = tmp_path / "server-config"
        self.process = subprocess.Popen(
            [_node(), str(BIN), "server", "--host", ADDRESS, "--port", "0", "--warm-kernels", "0"]
            + ["--data-dir", str(self.data_dir), *extra_args],
            cwd=ROOT,
            env=_env(self.config_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # The line it prints once it listens; end of output first means it failed to start.
        for line in self.process.stdout:
            if "listening on " in line:
                self.port = int(line.rsplit(":", 1)[1])
                break
        else:
            self.process.wait()
            pytest.fail(f"cellflow server exited before listening: {self.process.stderr.read()}")

    def create_key(self, workspace):
        """A key made through the server's admin socket, as an operator would."""
        created = subprocess.run(
            [_node(), str(BIN), "keys", "create", "--workspace", workspace, "--name", "lab"]
            + ["--data-dir", str(self.data_dir)],
            cwd=ROOT,
            env=_env(self.config_dir),
            capture_output=True,
            text=True,
        )
        assert created.returncode == 0, created.stderr
        return created.stdout.strip().splitlines()[-1]

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)
        self.process.stdout.close()
        self.process.stderr.close()


def _start(tmp_path, extra_args):
    _built()
    server = TeamServer(tmp_path, extra_args)
    return server


@pytest.fixture
def team_server(tmp_path):
    server = _start(tmp_path / "named", ["--allowed-host", NAME])
    yield server
    server.stop()


@pytest.fixture
def bare_server(tmp_path):
    server = _start(tmp_path / "bare", [])
    yield server
    server.stop()


@pytest.fixture
def name_resolves_to_127_0_0_2():
    """cellflow-team.test -> 127.0.0.2 for the HTTP client the handler uses, for this test only."""
    saved = AsyncHTTPClient._save_configuration()
    AsyncHTTPClient.configure(None, resolver=OverrideResolver(DefaultLoopResolver(), {NAME: ADDRESS}))
    # A client made earlier keeps its old resolver: the handler gets a fresh one, and so do later tests.
    _close_shared_clients()
    yield
    _close_shared_clients()
    AsyncHTTPClient._restore_configuration(saved)


def _close_shared_clients():
    for client in list(AsyncHTTPClient._async_clients().values()):
        client.close()


async def test_lab_logs_in_by_the_allowed_name(jp_fetch, cellflow_config_dir, team_server, name_resolves_to_127_0_0_2):
    key = team_server.create_key("team")
    url = f"http://{NAME}:{team_server.port}"
    response = await jp_fetch("cellflow", "session", method="POST", body=json.dumps({"url": url, "key": key}))
    assert response.code == 200
    session = json.loads(response.body)
    assert session["url"] == url
    assert session["me"]["workspace"]["name"] == "team"
    assert key.encode() not in response.body
    assert read_profile() == {"url": url, "key": key}

    # Requests through the lab's proxy go to the same name.
    response = await jp_fetch("cellflow", "api", "flows")
    assert response.code == 200
    response = await jp_fetch("cellflow", "api", "server")
    assert json.loads(response.body)["publicUrl"] is None


async def test_without_allowed_host_the_lab_is_told_the_setting(
    jp_fetch, cellflow_config_dir, bare_server, name_resolves_to_127_0_0_2
):
    key = bare_server.create_key("team")
    url = f"http://{NAME}:{bare_server.port}"
    response = await jp_fetch(
        "cellflow", "session", method="POST", body=json.dumps({"url": url, "key": key}), raise_error=False
    )
    assert response.code == 502
    answer = json.loads(response.body)
    assert answer["error"] == "forbidden"
    assert f"--allowed-host {NAME}" in answer["message"]
    assert key not in answer["message"]
    assert read_profile() is None

    # A profile saved before the server lost the name: the session says why it cannot reach it.
    write_profile(url, key)
    response = await jp_fetch("cellflow", "session")
    session = json.loads(response.body)
    assert session["reachable"] is False
    assert f"--allowed-host {NAME}" in session["error"]
    assert key not in session["error"]


def test_every_path_of_the_api_is_forwarded_by_the_lab(bare_server):
    """The proxy forwards only the API's own first segments (API_ROOTS): each path the server's OpenAPI
    document lists must be among them, or the lab could not reach it (a new endpoint forgotten there)."""
    with urllib.request.urlopen(f"http://{ADDRESS}:{bare_server.port}/api/openapi.json") as answer:
        document = json.load(answer)
    roots = {path.split("/")[2] for path in document["paths"]}
    assert "workers" in roots
    assert roots - API_ROOTS == set()
