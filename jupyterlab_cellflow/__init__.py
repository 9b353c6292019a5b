"""Cellflow for JupyterLab: the Python package that ships the prebuilt labextension, and a small Jupyter
server extension that keeps the Cellflow API key out of the browser (see handlers.py)."""
try:
    from ._version import __version__
except ImportError:
    # Fallback when using the package in dev mode without installing in editable mode with pip.
    import warnings

    warnings.warn("Importing 'jupyterlab_cellflow' outside a proper installation.")
    __version__ = "dev"


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "jupyterlab-cellflow"}]


def _jupyter_server_extension_points():
    return [{"module": "jupyterlab_cellflow"}]


def _load_jupyter_server_extension(server_app):
    from .handlers import setup_handlers
    from .local_server import CellflowLocalServer

    # Local mode (local_server.py): with no Cellflow profile, a local server is started on demand.
    local = CellflowLocalServer(parent=server_app, root_dir=str(server_app.root_dir))
    setup_handlers(server_app.web_app, local)
    server_app.log.info(
        "Cellflow: the lab reaches the Cellflow server through /cellflow/api%s",
        f" (without a profile, a local server with data in {local.data_dir})" if local.enabled else "",
    )

