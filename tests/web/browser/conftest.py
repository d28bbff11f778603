"""Real headless Chromium for the browser tests: Debian's `chromium` package driven by Playwright.

No browser is downloaded at run time (never `playwright install`): Playwright launches the binary the
Debian package installs. Playwright gives every launch a fresh temporary --user-data-dir itself (it
refuses one in `args`), so no profile state leaks between runs. If Chromium is missing the tests fail
saying how to install it; they are never skipped.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("KGTAG_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts"


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"No Chromium at {CHROMIUM}: install Debian's with `apt-get install -y chromium chromium-driver` "
                    "(bash scripts/install does it), or set KGTAG_CHROMIUM", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page_factory(browser):
    """New isolated pages (one browser context each, like two curators on two machines)."""
    contexts = []

    def new_page(width: int = 1440, height: int = 900):
        context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
        context.set_default_timeout(20_000)
        contexts.append(context)
        return context.new_page()

    yield new_page
    for context in contexts:
        context.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def review_server(review_graph):
    """`kgtag serve`'s app and server on a free loopback port over the test Neo4j; yields a function that
    starts one and returns the link `kgtag serve` prints (with the access token)."""
    from kgtag.web import create_app, make_server

    def start(curator: str | None = "curator-a") -> str:
        app = create_app(review_graph, curator=curator)
        server = make_server(app, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}/?token={app.config['KGTAG_TOKEN']}"

    servers = []
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
