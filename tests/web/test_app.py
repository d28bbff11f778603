"""The review web app over HTTP (Flask test client and a real threaded server) against the real Neo4j."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner

import review_graph as g
from kgtag.web import create_app, is_loopback, make_server


def signed_in(app):
    """A test client that opened the page with the printed link (token -> cookie)."""
    client = app.test_client()
    first = client.get("/?token=" + app.config["KGTAG_TOKEN"])
    assert first.status_code == 302 and first.headers["Location"] == "/"
    return client


@pytest.fixture
def client(review_graph):
    return signed_in(create_app(review_graph, curator="alice"))


def rows_of(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr class="edge" data-id="[^"]+" data-video="([^"]+)" data-tag="([^"]+)"', html)


def test_queue_lists_pending_edges_lowest_confidence_first_with_context(client):
    resp = client.get("/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    rows = rows_of(html)
    assert len(rows) == len(g.INFERRED)
    expected = [(v, t) for v, _, t, _, c, _, _ in sorted(g.INFERRED, key=lambda r: r[4])]
    assert rows == expected
    assert "Street food tour 🍜 台北" in html  # titles, unicode intact
    assert 'class="chip" title="uploaded_by">u_anna<' in html  # existing tags
    assert "none (cold start)" in html  # v004 has no tags
    assert 'title="audio: 0.60"' in html  # modality attention bars
    assert "has subject (legacy) `x`" in html  # odd relation names escaped, not broken
    assert re.search(r'<span id="count" data-total="9"><span class="n">9</span> pending', html)


def test_queue_filters(client):
    html = client.get("/?relation=has_music").get_data(as_text=True)
    assert {t for _, t in rows_of(html)} == {"Pop", "Blues", "Jazz"}
    html = client.get("/?run=run-a").get_data(as_text=True)
    assert {t for _, t in rows_of(html)} == {"Dogs", "Travel"}
    html = client.get("/?min=0.3&max=0.5").get_data(as_text=True)
    assert rows_of(html) == [("v004", "Dogs"), ("v003", "Travel"), ("v002", "Blues")]
    html = client.get("/?limit=25&min=0.95").get_data(as_text=True)
    assert rows_of(html) == [] and "Nothing pending" in html
    bad = client.get("/?min=0.9&max=0.1")
    assert bad.status_code == 400 and "0 &lt;= min &lt;= max &lt;= 1" in bad.get_data(as_text=True)
    assert client.get("/?min=lots").status_code == 400


def decide(client, ids, decision, curator=None, **headers):
    body = {"ids": ids, "decision": decision}
    if curator:
        body["curator"] = curator
    return client.post("/api/decide", json=body, headers=headers)


def test_decide_writes_to_neo4j_and_second_decision_is_already_decided(client, review_graph):
    drv = review_graph.driver
    pets = g.edge_id(drv, "v001", "has_subject", "Pets")
    pop = g.edge_id(drv, "v001", "has_music", "Pop")
    resp = decide(client, [pets], "accept")  # server's default curator
    assert resp.status_code == 200 and resp.json["decided"] == [pets] and resp.json["curator"] == "alice"
    resp = decide(client, [pop], "reject", curator="bob")
    assert resp.status_code == 200 and resp.json["message"] == "rejected 1 edge"
    assert g.edge_state(drv, "v001", "has_subject", "Pets")["triples"][0]["curator"] == "alice"
    assert g.edge_state(drv, "v001", "has_music", "Pop")["decided_by"] == "bob"

    again = decide(client, [pets], "reject", curator="carol")
    assert again.status_code == 409
    assert again.json["decided"] == []
    assert again.json["message"].startswith("already decided: accepted by alice at ")
    assert g.edge_state(drv, "v001", "has_subject", "Pets")["status"] == "accepted"

    html = client.get("/").get_data(as_text=True)
    assert ("v001", "Pets") not in rows_of(html) and ("v001", "Pop") not in rows_of(html)


def test_decide_refuses_bad_requests(client, review_graph):
    eid = g.edge_id(review_graph.driver, "v001", "has_music", "Pop")
    assert client.post("/api/decide", data={"ids": eid, "decision": "accept"}).status_code == 415  # a plain form
    assert decide(client, [eid], "accept", Origin="http://evil.example").status_code == 403
    assert decide(client, [], "accept").status_code == 400
    resp = decide(client, [eid], "perhaps")
    assert resp.status_code == 400 and "accept' or 'reject" in resp.json["error"]
    resp = decide(client, ["5:00000000-0000-0000-0000-000000000000:424242"], "accept")
    assert resp.status_code == 404 and "no longer exist" in resp.json["message"]
    nameless = signed_in(create_app(review_graph, curator=""))
    resp = decide(nameless, [eid], "accept")
    assert resp.status_code == 400 and "name" in resp.json["error"]
    assert g.edge_state(review_graph.driver, "v001", "has_music", "Pop")["status"] is None  # nothing was decided


def test_host_header_guard(review_graph):
    app = create_app(review_graph, curator="alice", token="t0k")
    cookie = {"Cookie": "kgtag_token_8000=t0k"}
    assert app.test_client(use_cookies=False).get("/", headers={"Host": "127.0.0.1:8000", **cookie}).status_code == 200
    assert app.test_client(use_cookies=False).get("/", headers={"Host": "localhost:8000", **cookie}).status_code == 200
    assert app.test_client(use_cookies=False).get("/", headers={"Host": "evil.example:8000", **cookie}).status_code == 400
    open_app = create_app(review_graph, curator="alice", allowed_hosts=None, token="t0k")
    assert open_app.test_client(use_cookies=False).get("/", headers={"Host": "evil.example:8000", **cookie}).status_code == 200


def test_summary_page_counts_and_chart(client, review_graph):
    drv = review_graph.driver
    decide(client, [g.edge_id(drv, "v001", "has_subject", "Pets"), g.edge_id(drv, "v002", "has_subject", "Music")], "accept")
    decide(client, [g.edge_id(drv, "v002", "has_music", "Blues")], "reject")
    html = client.get("/summary").get_data(as_text=True)
    row = re.search(r'<tr class="" data-relation="has_subject">(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r'class="n (?:pending|accepted|rejected)">(\d+)<', row) == ["3", "2", "0"]
    row = re.search(r'<tr class="" data-relation="has_music">(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r'class="n (?:pending|accepted|rejected)">(\d+)<', row) == ["2", "0", "1"]
    bars = re.findall(r'<rect class="bucket" data-low="([\d.]+)" data-accepted="(\d+)" data-decided="(\d+)"', html)
    assert bars == [("0.4", "0", "1"), ("0.6", "1", "1"), ("0.9", "1", "1")]
    html = client.get("/summary?run=run-a").get_data(as_text=True)
    assert 'data-relation="has_music"' not in html and "No decisions yet." in html


def test_two_curators_over_http_race_on_one_edge(review_graph):
    """Two real concurrent requests through the threaded server: one decides, the other is told."""
    drv = review_graph.driver
    eid = g.edge_id(drv, "v003", "has_subject", "Travel")
    server = make_server(create_app(review_graph, token="t0k"), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.port}/api/decide"
    cookie = f"kgtag_token_{server.port}=t0k"
    barrier = threading.Barrier(2)
    answers = {}

    def curator(name, decision):
        req = urllib.request.Request(url, data=json.dumps({"ids": [eid], "decision": decision, "curator": name}).encode(),
                                     headers={"Content-Type": "application/json", "Cookie": cookie}, method="POST")
        barrier.wait(timeout=30)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                answers[name] = (resp.status, json.load(resp))
        except urllib.error.HTTPError as err:
            answers[name] = (err.code, json.load(err))

    try:
        threads = [threading.Thread(target=curator, args=a) for a in (("ann", "accept"), ("ben", "reject"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=90)
    finally:
        server.shutdown()
        server.server_close()
    codes = sorted(code for code, _ in answers.values())
    assert codes == [200, 409], answers
    winner = next(name for name, (code, _) in answers.items() if code == 200)
    loser = next(name for name, (code, _) in answers.items() if code == 409)
    status = "accepted" if winner == "ann" else "rejected"
    assert answers[loser][1]["message"].startswith(f"already decided: {status} by {winner}")
    state = g.edge_state(drv, "v003", "has_subject", "Travel")
    assert (state["status"], state["decided_by"]) == (status, winner)
    assert len(state["triples"]) == (1 if status == "accepted" else 0)


def test_is_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10") and not is_loopback("no-such-host.invalid")


def test_serve_refuses_a_non_loopback_bind_without_allow_remote(neo4j_settings):
    from kgtag.cli.main import cli

    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2
    assert "not a loopback address" in result.output and "--allow-remote" in result.output


def test_serve_reports_a_busy_port(neo4j_settings, review_graph):
    import socket

    from kgtag.cli.main import cli

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--port", str(port), "--curator", "al", "--uri", neo4j_settings["uri"],
                                          "--user", neo4j_settings["user"], "--password", neo4j_settings["password"]])
    assert result.exit_code == 2, result.output
    assert f"cannot listen on 127.0.0.1:{port}" in result.output


# ---------------------------------------------------------------------- issue 10: token, names, errors, framing
def test_every_request_needs_the_launch_token(review_graph):
    app = create_app(review_graph, curator="alice")
    eid = g.edge_id(review_graph.driver, "v001", "has_music", "Pop")
    stranger = app.test_client()
    page = stranger.get("/")
    assert page.status_code == 403 and "kgtag serve" in page.get_data(as_text=True)
    refused = stranger.post("/api/decide", json={"ids": [eid], "decision": "accept", "curator": "mallory"})
    assert refused.status_code == 403 and "token" in refused.json["error"]
    assert stranger.get("/?token=wrong").status_code == 403
    assert stranger.get("/static/review.js").status_code == 403
    first = stranger.get("/?run=run-b&token=" + app.config["KGTAG_TOKEN"])
    assert first.status_code == 302 and first.headers["Location"] == "/?run=run-b"  # token out of the address bar
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert stranger.get("/").status_code == 200
    assert decide(stranger, [eid], "accept", curator="ann").status_code == 200
    assert g.edge_state(review_graph.driver, "v001", "has_music", "Pop")["decided_by"] == "ann"
    other = create_app(review_graph, curator="alice")  # another launch: another token
    assert other.config["KGTAG_TOKEN"] != app.config["KGTAG_TOKEN"]


@pytest.mark.parametrize("name", ["x" * 65, "bob\nINFO accepted by admin", "eve\x1b[2J", "tab\there", "   "])
def test_curator_names_are_validated(client, review_graph, name):
    eid = g.edge_id(review_graph.driver, "v001", "has_music", "Pop")
    resp = decide(client, [eid], "accept", curator=name) if name.strip() else \
        client.post("/api/decide", json={"ids": [eid], "decision": "accept", "curator": name})
    if name.strip():
        assert resp.status_code == 400 and "curator" in resp.json["error"], resp.json
    assert g.edge_state(review_graph.driver, "v001", "has_music", "Pop")["status"] is None


def test_a_valid_unicode_curator_is_recorded(client, review_graph):
    eid = g.edge_id(review_graph.driver, "v001", "has_music", "Pop")
    assert decide(client, [eid], "reject", curator="Zoë 山田 [/]").status_code == 200
    assert g.edge_state(review_graph.driver, "v001", "has_music", "Pop")["decided_by"] == "Zoë 山田 [/]"


def test_cli_curator_is_validated(runner, review_graph, tmp_path):
    from kgtag.cli.main import cli

    eid = g.edge_id(review_graph.driver, "v001", "has_music", "Pop")
    path = tmp_path / "d.csv"
    path.write_text(f"{eid},accept\n")
    result = runner.invoke(cli, ["review", "--decisions", str(path), "--curator", "bob\x1b[31m"])
    assert result.exit_code == 2 and "control characters" in result.stderr and len(result.stderr.splitlines()) == 1
    assert g.edge_state(review_graph.driver, "v001", "has_music", "Pop")["status"] is None


def test_errors_under_api_are_json_when_neo4j_is_down(neo4j_settings):
    """A real driver pointed at a port where no Neo4j listens (as after the server stopped)."""
    import socket

    from neo4j import GraphDatabase

    from kgtag.kgstore.store import Store

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    driver = GraphDatabase.driver(f"bolt://127.0.0.1:{port}", auth=("neo4j", "x"), connection_timeout=2,
                                  max_transaction_retry_time=0.5)
    try:
        client = signed_in(create_app(Store(driver), curator="alice"))
        resp = decide(client, ["5:0:1"], "accept")
        assert resp.status_code == 503 and resp.is_json and "Neo4j does not answer" in resp.json["error"]
        page = client.get("/")
        assert page.status_code == 503 and "Neo4j does not answer" in page.get_data(as_text=True)
        missing = client.get("/api/nothing-here")
        assert missing.status_code == 404 and missing.is_json
        wrong = client.get("/api/decide")
        assert wrong.status_code == 405 and wrong.is_json
    finally:
        driver.close()


def test_pages_cannot_be_framed_and_run_no_inline_code(client):
    for path in ("/", "/summary", "/static/review.js", "/nope"):
        resp = client.get(path)
        assert resp.headers["X-Frame-Options"] == "DENY", path
        assert resp.headers["Content-Security-Policy"] == "default-src 'self'; frame-ancestors 'none'", path
    assert decide(client, [], "accept").headers["X-Frame-Options"] == "DENY"
    for path in ("/", "/summary"):
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r"\sstyle=|\son[a-z]+=|<script(?![^>]*\ssrc=)|<style", html), path  # the CSP would block them
        assert "data-w=" in html  # widths go through review.js instead


def serve_cli(neo4j_settings, *args):
    """`kgtag serve` as a process; returns (process, the link it printed)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NEO4J_URI": neo4j_settings["uri"], "NEO4J_USER": neo4j_settings["user"],
           "NEO4J_PASSWORD": neo4j_settings["password"]}
    proc = subprocess.Popen([sys.executable, "-c", "from kgtag.cli.main import cli; cli()", "serve", "--port", "0",
                             "--curator", "alice", *args], env=env, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    match = re.search(r"(http://\S+:(\d+)/)\?token=(\S+)", line)
    assert match, line
    return proc, match.group(1), int(match.group(2)), match.group(3)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # report the 302 itself


def get(url: str, **headers) -> int:
    try:
        with urllib.request.build_opener(_NoRedirect).open(urllib.request.Request(url, headers=headers), timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_serve_prints_a_token_link_and_requires_it(neo4j_settings, review_graph):
    proc, base, port, token = serve_cli(neo4j_settings)
    try:
        assert get(base) == 403
        assert get(f"{base}?token=nope") == 403
        assert get(f"{base}?token={token}") == 302  # to the page, with the token in a cookie
        assert get(base, Cookie=f"kgtag_token_{port}={token}") == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_allow_remote_keeps_a_host_allowlist(neo4j_settings, review_graph):
    proc, _, port, token = serve_cli(neo4j_settings, "--host", "0.0.0.0", "--allow-remote", "--allowed-host", "kg.example")
    cookie = f"kgtag_token_{port}={token}"
    try:
        url = f"http://127.0.0.1:{port}/"
        assert get(url, Host=f"evil.example:{port}", Cookie=cookie) == 400  # DNS rebinding stays out
        assert get(url, Host=f"kg.example:{port}", Cookie=cookie) == 200
        assert get(url, Host=f"kg.example:{port}") == 403  # and the token is still needed
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_guide_is_readable_by_neo4j_browser_only():
    from kgtag.cli.guide import serve as serve_guide

    server = serve_guide("<html>guide with ids</html>", 0, "http://localhost:7474/browser/")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/kgtag.html"

    def headers(method: str, origin: str) -> dict:
        req = urllib.request.Request(url, method=method, headers={"Origin": origin})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return dict(resp.headers)

    try:
        for method in ("GET", "OPTIONS"):
            evil = headers(method, "http://evil.example")
            assert "Access-Control-Allow-Origin" not in evil and "Access-Control-Allow-Private-Network" not in evil
            for origin in ("http://localhost:7474", "http://127.0.0.1:7474"):
                assert headers(method, origin)["Access-Control-Allow-Origin"] == origin
            assert "Access-Control-Allow-Origin" not in headers(method, "http://localhost:9999")
    finally:
        server.shutdown()
        server.server_close()


def test_queue_shows_similar_videos_beside_each_edge_once_published(review_graph):
    client = signed_in(create_app(review_graph, curator="alice"))
    assert 'class="similar"' not in client.get("/").get_data(as_text=True)  # nothing published: no panel
    g.publish_vectors(review_graph)
    html = client.get("/").get_data(as_text=True)
    cell = re.search(r'data-video="v004" data-tag="Cats".*?<div class="similar">(.*?)</div>', html, re.S).group(1)
    assert re.findall(r'<span class="chip sim[^"]*"[^>]*>([^<]+)</span>', cell) == ["v001 ✓", "v003", "v002"]
    assert "1/3 have Cats" in cell
