"""The analysts' path in the Neo4j Browser served by the test Neo4j, driven in headless Chromium:
connect, run a shipped query (cypher/video_top_tags.cypher) on demo-like data, see inferred tags."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from playwright.sync_api import expect

from kgtag.kgstore.store import cypher


@pytest.fixture
def browser_url(neo4j_settings) -> str:
    url = neo4j_settings.get("http") or os.environ.get("NEO4J_HTTP_URL")
    if not url:
        pytest.fail("Set NEO4J_HTTP_URL to the test Neo4j's HTTP address (e.g. http://127.0.0.1:17474); "
                    "bash scripts/test does it", pytrace=False)
    return url.rstrip("/") + "/browser/"


def connect(page, browser_url: str, settings: dict) -> None:
    page.goto(browser_url)
    scheme, address = settings["uri"].split("://", 1)
    page.get_by_test_id("bolt-scheme-select").select_option(f"{'neo4j' if scheme.startswith('neo4j') else 'bolt'}://")
    page.get_by_test_id("boltaddress").fill(address)
    page.get_by_test_id("username").fill(settings["user"])
    page.get_by_test_id("password").fill(settings["password"])
    page.get_by_test_id("connect").click()
    connected = page.get_by_test_id("frame").filter(has_text="You are connected as user")
    expect(connected).to_have_count(1, timeout=30_000)


def run(page, command: str) -> None:
    """Type a command or query into Browser's editor (as pasted text: multi-line queries stay whole) and run it."""
    frames = page.get_by_test_id("frame").count()
    page.get_by_test_id("activeEditor").click()
    page.keyboard.insert_text(command)
    page.get_by_test_id("editor-Run").click()
    expect(page.get_by_test_id("frame")).to_have_count(frames + 1)


def test_shipped_query_shows_inferred_tags_in_neo4j_browser(page_factory, browser_url, neo4j_settings, review_graph, artifacts):
    page = page_factory()
    connect(page, browser_url, neo4j_settings)
    # `:param x => value` evaluates the value as Cypher, so 10 stays an integer (LIMIT needs one)
    run(page, ':param video => "v001"')
    run(page, ":param run => null")
    run(page, ":param limit => 10")
    run(page, cypher("video_top_tags"))
    result = page.get_by_test_id("frame").first
    expect(result).to_contain_text("Pets")  # v001's inferred tags, most confident first
    text = result.inner_text()
    assert "ERROR" not in text
    assert text.index("Pets") < text.index("Pop")  # 0.91 before 0.12
    for tag in ("Pets", "Pop", "Travel"):
        assert f'"{tag}"' in text
    assert '"Kitten meets puppy"' in text and '"v002"' not in text
    page.screenshot(path=str(artifacts / "neo4j-browser-video-top-tags.png"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_guide_opens_and_its_query_runs(page_factory, browser_url, neo4j_settings, review_graph, tmp_path):
    """Bonus: the analyst's one-click path: `kgtag guide` serves the guide, Browser opens it with
    `:guide URL`, the parameters block and the first query are clicked into the editor and run."""
    port = _free_port()
    env = {**os.environ, "NEO4J_URI": neo4j_settings["uri"], "NEO4J_USER": neo4j_settings["user"],
           "NEO4J_PASSWORD": neo4j_settings["password"]}
    guide = subprocess.Popen([sys.executable, "-c", "from kgtag.cli.main import cli; cli()", "guide", "--port", str(port),
                              "--browser", browser_url], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert guide.poll() is None, guide.stdout.read()
                time.sleep(0.1)
        page = page_factory()
        connect(page, browser_url, neo4j_settings)
        page.get_by_test_id("activeEditor").click()
        page.keyboard.insert_text(f":guide http://localhost:{port}/kgtag.html")
        page.get_by_test_id("editor-Run").click()
        drawer = page.get_by_test_id("guidesDrawer")
        expect(drawer).to_contain_text("kgtag: inferred video tags")
        frames = page.get_by_test_id("frame").count()
        drawer.locator("pre.runnable").first.click()  # the parameters block, filled from this graph
        page.get_by_test_id("editor-Run").click()
        expect(page.get_by_test_id("frame")).to_have_count(frames + 1)
        page.get_by_test_id("guideNextSlide").click()
        expect(drawer).to_contain_text("Top inferred tags of a video")
        drawer.locator("pre.runnable").first.click()
        page.get_by_test_id("editor-Run").click()
        expect(page.get_by_test_id("frame")).to_have_count(frames + 2)
        result = page.get_by_test_id("frame").first
        expect(result).to_contain_text('"pending"')  # a result row's status cell (the query text has 'pending')
        assert "ERROR" not in result.inner_text()
    finally:
        guide.terminate()
        guide.wait(timeout=10)
