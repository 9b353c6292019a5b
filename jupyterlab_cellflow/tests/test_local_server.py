"""Local mode (local_server.py): a lab with no Cellflow profile starts a real Cellflow server of its own
(here the repository's build, server/bin/cellflow.js, on the machine's node; the wheel check runs the
bundled one), makes its key, logs the panel in without the key reaching the browser, and stops it with
the lab."""
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jupyterlab_cellflow.local_server import KEY_FILE
from jupyterlab_cellflow.profile import read_profile

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "server" / "bin" / "cellflow.js"


# A first start makes the store (PGlite's initdb): tens of seconds on a busy machine.
START = {"request_timeout": 180}


@pytest.fixture(scope="module")
def local_data_dir(tmp_path_factory):
    """One data folder for the module, as a user's is across lab starts: only the first start pays for
    creating the store."""
    return tmp_path_factory.mktemp("cellflow-local") / "data"


@pytest.fixture
def local_command():
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the repository's Cellflow server needs it")
    if not (ROOT / "server" / "lib").is_dir():
        subprocess.run(["npm", "run", "--silent", "build"], cwd=ROOT / "server", check=True)
    return [node, str(BIN)]


@pytest.fixture
def jp_server_config(cellflow_config_dir, local_data_dir, local_command):
    return {
        "ServerApp": {"jpserver_extensions": {"jupyterlab_cellflow": True}},
        "CellflowLocalServer": {
            "enabled": True,
            "data_dir": str(local_data_dir),
            "command": local_command,
            "extra_args": ["--warm-kernels", "0"],
        },
    }


@pytest.fixture
def local_server(jp_serverapp):
    return jp_serverapp.web_app.settings["cellflow_local_server"]


async def test_without_a_profile_the_lab_starts_and_logs_in_to_a_local_server(
    jp_fetch, jp_serverapp, local_server, local_data_dir, jp_root_dir
):
    assert not local_server.running
    # The first session answers at once that the server is starting; the next one waits for it.
    first = json.loads((await jp_fetch("cellflow", "session")).body)
    assert first == {"loggedIn": False, "local": True, "starting": True, "localAvailable": True}
    response = await jp_fetch("cellflow", "session", **START)
    session = json.loads(response.body)
    assert session["loggedIn"] is True and session["reachable"] is True
    assert session["local"] is True and session["localAvailable"] is True
    assert session["url"].startswith("http://127.0.0.1:")
    assert session["me"]["workspace"]["name"] == "local"
    assert local_server.running

    # The key is kept on the lab's side, owner-only, and never sent to the browser.
    key_file = local_data_dir / KEY_FILE
    key = key_file.read_text().strip()
    assert key.startswith("cf_")
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert key.encode() not in response.body
    assert read_profile() is None

    # The panel's requests go through the proxy to the local server, whose root dir is the lab's.
    response = await jp_fetch("cellflow", "api", "flows")
    assert response.code == 200
    assert key.encode() not in response.body
    response = await jp_fetch("cellflow", "api", "server")
    assert key.encode() not in response.body

    # A second session is the same server, not another.
    again = json.loads((await jp_fetch("cellflow", "session", **START)).body)
    assert again["url"] == session["url"]

    # Once running, a proxied request costs no key check: only its own request reaches the server.
    checks = []
    real_check = local_server._key_works

    async def counting_check(key):
        checks.append(key)
        return await real_check(key)

    local_server._key_works = counting_check
    await jp_fetch("cellflow", "api", "flows")
    assert checks == []

    # It stops with the lab.
    process = local_server._process
    await local_server.stop()
    assert process.returncode is not None
    assert not local_server.running


async def _started_session(jp_fetch):
    """The session once the local server is up: the first answer may say it is starting."""
    session = json.loads((await jp_fetch("cellflow", "session", **START)).body)
    if session.get("starting"):
        session = json.loads((await jp_fetch("cellflow", "session", **START)).body)
    return session


async def test_a_restarted_lab_reuses_the_stored_key(jp_fetch, local_server, local_data_dir):
    try:
        first = await _started_session(jp_fetch)
        key = (local_data_dir / KEY_FILE).read_text().strip()
        await local_server.stop()

        second = await _started_session(jp_fetch)
        assert second["loggedIn"] is True and second["local"] is True
        assert (local_data_dir / KEY_FILE).read_text().strip() == key
        assert second["me"]["key"]["id"] == first["me"]["key"]["id"]
    finally:
        await local_server.stop()


async def test_a_profile_wins_over_local_mode(jp_fetch, logged_in, local_server):
    session = json.loads((await jp_fetch("cellflow", "session", **START)).body)
    assert session["url"] == logged_in.url
    assert "local" not in session
    assert not local_server.running


async def test_a_local_server_that_cannot_start_is_named_in_the_session(jp_fetch, local_server, local_data_dir):
    local_server.command = ["/bin/sh", "-c", "echo 'no store here' >&2; exit 3", "cellflow"]
    assert json.loads((await jp_fetch("cellflow", "session")).body)["starting"] is True
    session = json.loads((await jp_fetch("cellflow", "session", **START)).body)
    assert session["loggedIn"] is False
    assert session["local"] is True
    assert "exited with code 3" in session["error"]
    assert "no store here" in session["error"]

    response = await jp_fetch("cellflow", "api", "flows", raise_error=False)
    assert response.code == 502
    assert json.loads(response.body)["error"] == "local-server"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_local_server_stops_when_the_lab_exits(local_data_dir, local_command):
    """A lab process that starts its local server and exits (as `jupyter lab` does on Ctrl-C or from the
    menu): the server is gone too."""
    script = (
        "import asyncio, sys\n"
        "from jupyterlab_cellflow.local_server import CellflowLocalServer\n"
        "server = CellflowLocalServer(data_dir=sys.argv[1], command=sys.argv[2:], extra_args=['--warm-kernels', '0'])\n"
        "asyncio.run(server.ensure())\n"
        "print(server._process.pid, flush=True)\n"
    )
    lab = subprocess.run(
        [sys.executable, "-c", script, str(local_data_dir), *local_command],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert lab.returncode == 0, lab.stderr
    pid = int(lab.stdout.split()[-1])
    # The server ends its kernels and closes its store, then exits: wait for that, bounded.
    deadline = time.monotonic() + 60
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), f"the local server {pid} outlived its lab"


def _alive(pid):
    """Running and not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat_file:
            return stat_file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
