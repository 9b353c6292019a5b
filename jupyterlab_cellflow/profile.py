"""The Cellflow login profile shared by the lab and the `cellflow` CLI: {"url", "key"} in
~/.config/cellflow/profile.json (XDG_CONFIG_HOME honoured, CELLFLOW_CONFIG_DIR overrides), readable by
its owner only. The API key lives here and in the Jupyter server's memory, never in the browser."""
import json
import os
from pathlib import Path


def config_dir() -> Path:
    override = os.environ.get("CELLFLOW_CONFIG_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cellflow"


def profile_path() -> Path:
    return config_dir() / "profile.json"


def read_profile():
    """The stored {url, key}, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads(profile_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and isinstance(data.get("url"), str) and isinstance(data.get("key"), str):
        return {"url": data["url"], "key": data["key"]}
    return None


def write_profile(url: str, key: str) -> None:
    """Write the profile with mode 0600 (folder 0700), replacing any other atomically."""
    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    tmp = folder / f".profile.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"url": url, "key": key}, handle)
    os.replace(tmp, profile_path())


def delete_profile() -> None:
    try:
        profile_path().unlink()
    except FileNotFoundError:
        pass
