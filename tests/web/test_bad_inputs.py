"""Bad inputs to the review page and the guide server (issue 18 items 5 and 9): an HTTP 4xx naming the
parameter, never a 500; no token in the access log; the guide answers loopback Host names only."""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request

import pytest

from kgtag.web import create_app, make_server


def edge_counts(store) -> tuple[int, int]:
    records, _, _ = store.driver.execute_query(
        "MATCH ()-[e]->() RETURN count(e) AS e, count(CASE WHEN e.status IS NOT NULL THEN 1 END) AS decided")
    return records[0]["e"], records[0]["decided"]


@pytest.fixture
def client(review_graph):
    app = create_app(review_graph, curator="alice")
    client = app.test_client()
    assert client.get("/?token=" + app.config["KGTAG_TOKEN"]).status_code == 302
    return client


QUERIES = [  # (query string, status, words of the message)
    ("offset=99999999999999999999", 400, "offset must be between 0 and 1,000,000,000"),
    ("offset=-1", 400, "offset must be between"),
    ("offset=1e3", 400, "offset: not a whole number"),
    ("offset=" + "9" * 5000, 400, "offset: not a whole number"),
    ("min=nan", 400, "min: not a finite number"),
    ("max=inf", 400, "max: not a finite number"),
    ("min=abc", 400, "min: not a number"),
    ("limit=99999999999999999999", 200, ""),  # not a page size: the default page
    ("offset=1000000000", 200, ""),
]


@pytest.mark.parametrize("query, status, words", QUERIES, ids=[q[0][:30] for q in QUERIES])
def test_queue_parameters_are_bounded(client, query, status, words):
    response = client.get("/?" + query)
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert words in response.get_data(as_text=True)


BODIES = [
    ({"ids": ["x"], "decision": "accept", "curator": {"name": "bob"}}, "curator must be a name (a JSON string), not a JSON object"),
    ({"ids": ["x"], "decision": "accept", "curator": ["bob"]}, "not a JSON array"),
    ({"ids": ["x"], "decision": "accept", "curator": 5}, "not a JSON number"),
    ({"ids": ["x"], "decision": "accept", "curator": "bob\x1b[2J"}, "control characters"),
]


@pytest.mark.parametrize("body, words", BODIES, ids=[str(b["curator"])[:20] for b, _ in BODIES])
def test_a_curator_that_is_not_a_name_is_refused(client, review_graph, body, words):
    edge = review_graph.driver.execute_query("MATCH ()-[e:INFERRED]->() RETURN elementId(e) AS id LIMIT 1")[0][0]["id"]
    before = edge_counts(review_graph)
    response = client.post("/api/decide", json={**body, "ids": [edge]})
    assert response.status_code == 400 and words in response.get_json()["error"], response.get_json()
    assert edge_counts(review_graph) == before


def test_the_access_log_never_shows_the_token(review_graph, caplog):
    app = create_app(review_graph, curator="alice")
    token = app.config["KGTAG_TOKEN"]
    server = make_server(app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            for path in (f"/?token={token}", f"/summary?run=x&token={token}", f"/?token={token}&offset=5"):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=30).close()
                except urllib.error.HTTPError:
                    pass
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert "token=<hidden>" in logged and token not in logged
    finally:
        server.shutdown()
        server.server_close()


def test_the_guide_answers_loopback_host_names_only():
    from kgtag.cli.guide import serve as serve_guide

    server = serve_guide("<html>guide with ids</html>", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    def status(host: str, method: str = "GET") -> int:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/kgtag.html", method=method, headers={"Host": host})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as err:
            return err.code

    try:
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost"):
            assert status(host) == 200, host
        for host in (f"attacker.example:{port}", "attacker.example", "localhost.attacker.example", ""):
            assert status(host) == 400, host
            assert status(host, "OPTIONS") == 400, host
    finally:
        server.shutdown()
        server.server_close()
