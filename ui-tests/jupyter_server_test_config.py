"""Server configuration for the UI tests ONLY: it opens the lab without a token for galata.

Never use it outside tests. Started by playwright.config.js's webServer from the project's .venv.
"""
from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)  # noqa: F821 (c is injected by jupyter's config loader)

