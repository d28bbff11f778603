"""The review page in real headless Chromium: a curator works through the queue; two curators collide."""

from __future__ import annotations

import re

from playwright.sync_api import expect

import review_graph as g


def row(page, video: str, tag: str):
    return page.locator(f'tr.edge[data-video="{video}"][data-tag="{tag}"]')


def test_curator_accepts_rejects_and_sees_the_summary(page_factory, review_server, review_graph, artifacts):
    drv = review_graph.driver
    link = review_server(curator="curator-a")
    page = page_factory()
    page.goto(link)
    rows = page.locator("tr.edge")
    expect(rows).to_have_count(len(g.INFERRED))
    # lowest confidence first, and the first row has the keyboard focus
    first = rows.first
    expect(first).to_have_attribute("data-tag", "Jazz")
    expect(first).to_have_class(re.compile(r"\bcurrent\b"))
    expect(row(page, "v002", "Blues").locator("td.attention")).to_contain_text("audio")
    page.screenshot(path=str(artifacts / "review-queue.png"), full_page=True)

    # accept with the mouse
    row(page, "v001", "Pets").get_by_role("button", name="Accept").click()
    expect(row(page, "v001", "Pets")).to_have_class(re.compile("decided-accepted"))
    expect(row(page, "v001", "Pets").locator(".outcome")).to_have_text("accepted by curator-a")
    # reject with the keyboard: focus a row, press r
    row(page, "v001", "Pop").locator("td.video").click()
    page.keyboard.press("r")
    expect(row(page, "v001", "Pop")).to_have_class(re.compile("decided-rejected"))
    # bulk: select the two lowest with x / j / x, reject both with Shift+R
    row(page, "v003", "Jazz").locator("td.video").click()
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(page.locator("#reject-selected")).to_be_enabled()
    page.keyboard.press("Shift+R")
    expect(row(page, "v003", "Jazz")).to_have_class(re.compile("decided-rejected"))
    expect(row(page, "v001", "Travel")).to_have_class(re.compile("decided-rejected"))
    expect(page.locator("#toast")).to_contain_text("rejected 2 edges")
    expect(page.locator("#count")).to_have_text("5 pending")  # counted down as decisions land
    page.screenshot(path=str(artifacts / "review-queue-decided.png"), full_page=True)

    # Neo4j has every decision, with who and when; the accepted one is a triple from review
    pets = g.edge_state(drv, "v001", "has_subject", "Pets")
    assert (pets["status"], pets["decided_by"]) == ("accepted", "curator-a") and pets["decided_at"] is not None
    assert [(t["source"], t["curator"]) for t in pets["triples"]] == [("review", "curator-a")]
    for video, relation, tag in [("v001", "has_music", "Pop"), ("v003", "has_music", "Jazz"), ("v001", "has_subject", "Travel")]:
        state = g.edge_state(drv, video, relation, tag)
        assert (state["status"], state["decided_by"], state["triples"]) == ("rejected", "curator-a", [])
    assert g.edge_state(drv, "v002", "has_music", "Blues")["status"] is None

    page.reload()
    expect(rows).to_have_count(len(g.INFERRED) - 4)
    expect(page.locator("#count")).to_have_text("5 pending")

    page.get_by_role("link", name="Summary").click()
    counts = {}
    for tr in page.locator("#by-relation tbody tr").all():
        cells = tr.locator("td").all_inner_texts()
        counts[cells[0].strip()] = tuple(int(c) for c in cells[1:4])
    assert counts["has_subject"] == (3, 1, 1)
    assert counts["has_music"] == (1, 0, 2)
    assert counts["has subject (legacy) `x`"] == (1, 0, 0)
    assert counts["all relations"] == (5, 1, 3)
    bars = page.locator("svg#calibration rect.bucket")
    expect(bars).to_have_count(3)  # confidences 0.05 and 0.08, 0.12, 0.91: buckets 0.0, 0.1, 0.9
    page.screenshot(path=str(artifacts / "review-summary.png"), full_page=True)


def test_second_curator_is_told_already_decided(page_factory, review_server, review_graph):
    drv = review_graph.driver
    link = review_server(curator=None)  # each curator types a name on the page
    ann, ben = page_factory(), page_factory()
    for page, name in ((ann, "ann"), (ben, "ben")):
        page.goto(link)
        page.locator("#curator").fill(name)
        page.locator("#curator").press("Tab")
    expect(ben.locator("tr.edge")).to_have_count(len(g.INFERRED))  # ben's page is loaded before ann decides

    row(ann, "v002", "Blues").get_by_role("button", name="Accept").click()
    expect(row(ann, "v002", "Blues")).to_have_class(re.compile("decided-accepted"))

    row(ben, "v002", "Blues").get_by_role("button", name="Reject").click()
    blues = row(ben, "v002", "Blues")
    expect(blues).to_have_class(re.compile(r"\bconflict\b"))
    expect(blues.locator(".outcome")).to_contain_text("already decided: accepted by ann")
    expect(ben.locator("#toast")).to_contain_text("already decided")
    expect(blues.get_by_role("button", name="Reject")).to_be_disabled()

    state = g.edge_state(drv, "v002", "has_music", "Blues")
    assert (state["status"], state["decided_by"]) == ("accepted", "ann")
    assert len(state["triples"]) == 1

    # ben's other work goes on, and a page without a name cannot decide
    row(ben, "v004", "Cats").get_by_role("button", name="Reject").click()
    expect(row(ben, "v004", "Cats")).to_have_class(re.compile("decided-rejected"))
    assert g.edge_state(drv, "v004", "has_subject", "Cats")["decided_by"] == "ben"
    ben.locator("#curator").fill("")
    row(ben, "v003", "Travel").get_by_role("button", name="Accept").click()
    expect(ben.locator("#toast")).to_contain_text("Enter your name")
    assert g.edge_state(drv, "v003", "has_subject", "Travel")["status"] is None


def test_page_works_under_its_csp_and_refuses_to_be_framed(page_factory, review_server, review_graph):
    """The CSP allows no inline script or style: the page must still draw its bars and decide; and
    another site cannot frame it to click Accept through the curator (issue 10, items 4-5)."""
    link = review_server(curator="curator-a")
    page = page_factory()
    blocked = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(link)
    expect(page).to_have_url(re.compile(r"/$"))  # the token moved from the address bar to a cookie
    expect(page.locator("tr.edge")).to_have_count(len(g.INFERRED))
    bar = page.locator("td.conf .confbar span").first
    assert bar.evaluate("e => e.getBoundingClientRect().width") > 0
    row(page, "v001", "Pets").get_by_role("button", name="Accept").click()
    expect(row(page, "v001", "Pets")).to_have_class(re.compile("decided-accepted"))
    page.get_by_role("link", name="Summary").click()
    assert page.locator("td.stack .s-pen").first.evaluate("e => e.getBoundingClientRect().width") > 0
    assert blocked == []

    stranger = page_factory()  # no token: refused
    assert stranger.goto(link.split("?")[0]).status == 403

    framer = page_factory()
    refused = []
    framer.on("console", lambda m: refused.append(m.text))
    framer.set_content(f'<iframe id="f" src="{link}" width="800" height="600"></iframe>')
    framer.wait_for_timeout(1500)
    frame = framer.frames[1]
    assert frame.url.startswith("chrome-error:") or frame.locator("tr.edge").count() == 0
    assert any("frame-ancestors" in t or "X-Frame-Options" in t for t in refused), refused


def test_similar_videos_panel_beside_an_edge(page_factory, review_server, review_graph, artifacts):
    g.publish_vectors(review_graph)
    page = page_factory()
    page.goto(review_server())
    panel = row(page, "v004", "Cats").locator(".similar")
    expect(panel.locator(".chip.sim")).to_have_text(["v001 ✓", "v003", "v002"])
    expect(panel.locator(".chip.sim.has")).to_have_count(1)
    expect(panel).to_contain_text("1/3 have Cats")
    page.screenshot(path=str(artifacts / "review-similar.png"), full_page=True)
