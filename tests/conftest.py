"""One way for every test to get a real Neo4j.

Order: NEO4J_URI (+ NEO4J_USER, NEO4J_PASSWORD) when set; else a testcontainers Neo4j when a Docker
engine answers; else the run fails, saying how to start one. Graph tests are never skipped.
Each test that takes `neo4j_driver_clean` gets an empty database and leaves one behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from neo4j import GraphDatabase

# The benchmark data sets live beside the repository (../shared/data from its root), never in it.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# Tests wipe their database. This marker node says the database is a test database, so a run
# pointed by mistake at a database holding real data stops instead of deleting it.
_MARKER = "KgtagTestDatabase"

HOW_TO_START = (
    "No Neo4j for the tests. Run them with `bash scripts/test` (it starts a local test server), "
    "or start one with `docker/neo4j-local start && eval \"$(docker/neo4j-local env)\"`, "
    "or set NEO4J_URI, NEO4J_USER and NEO4J_PASSWORD, or run a Docker engine for testcontainers."
)


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of the public data sets (fb15k-237/, kuai16k/, ...), found from the repository root."""
    if not SHARED_DATA.is_dir():  # a clone placed away from ../shared: these tests have nothing to read
        pytest.skip(f"the shared data sets are not at {SHARED_DATA} (../shared/data from the repository root)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def neo4j_settings():
    """(uri, user, password) of the test database, and the HTTP URL when known."""
    if os.environ.get("NEO4J_URI"):
        yield {
            "uri": os.environ["NEO4J_URI"],
            "user": os.environ.get("NEO4J_USER", "neo4j"),
            "password": os.environ.get("NEO4J_PASSWORD", ""),
            "http": os.environ.get("NEO4J_HTTP_URL"),
        }
        return
    if _docker_answers():
        from testcontainers.neo4j import Neo4jContainer

        with Neo4jContainer("neo4j:5.26-community") as container:
            yield {
                "uri": container.get_connection_url(),
                "user": "neo4j",
                "password": container.password,
                "http": None,
            }
        return
    pytest.fail(HOW_TO_START, pytrace=False)


@pytest.fixture(scope="session")
def neo4j_driver(neo4j_settings):
    driver = GraphDatabase.driver(neo4j_settings["uri"], auth=(neo4j_settings["user"], neo4j_settings["password"]))
    try:
        driver.verify_connectivity()
    except Exception as exc:  # the message is what the user needs, not the trace
        pytest.fail(f"Neo4j at {neo4j_settings['uri']} does not answer ({exc}). {HOW_TO_START}", pytrace=False)
    records, _, _ = driver.execute_query(
        "MATCH (n) WITH count(n) AS nodes OPTIONAL MATCH (m:" + _MARKER + ") RETURN nodes, count(m) AS marked"
    )
    if records[0]["nodes"] > 0 and records[0]["marked"] == 0:
        pytest.fail(
            f"The database at {neo4j_settings['uri']} holds data and is not a kgtag test database; "
            "the tests wipe their database, so point NEO4J_URI at an empty one (`bash scripts/test` starts one).",
            pytrace=False,
        )
    yield driver
    _wipe(driver)
    driver.close()


def _wipe(driver) -> None:
    # CALL ... IN TRANSACTIONS needs an auto-commit transaction, hence session.run
    with driver.session() as session:
        # relationships first: DETACH DELETE of hub nodes in one batch can exceed the transaction memory
        session.run("MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS").consume()
        session.run("MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
        session.run("MERGE (:" + _MARKER + ")").consume()


@pytest.fixture
def neo4j_driver_clean(neo4j_driver):
    """The session driver on an empty database (schema kept); wiped again afterwards."""
    _wipe(neo4j_driver)
    yield neo4j_driver
    _wipe(neo4j_driver)


@pytest.fixture
def store(neo4j_driver_clean):
    """A kgstore Store on an empty database."""
    from kgtag.kgstore.store import Store

    return Store(neo4j_driver_clean)


@pytest.fixture
def runner(neo4j_settings, monkeypatch, tmp_path):
    """click's CliRunner with the test database in the environment, in an empty working directory
    (no stray kgtag.toml; runs/ lands under tmp). The curator for review commands is `alice`."""
    from click.testing import CliRunner

    monkeypatch.setenv("NEO4J_URI", neo4j_settings["uri"])
    monkeypatch.setenv("NEO4J_USER", neo4j_settings["user"])
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_settings["password"])
    monkeypatch.setenv("KGTAG_CURATOR", "alice")
    monkeypatch.chdir(tmp_path)
    return CliRunner()


@pytest.fixture
def review_graph(store):
    """The small review graph of tests/review_graph.py (videos, tags, INFERRED edges of two runs)."""
    import review_graph as g

    g.build(store.driver)
    return store


# Fixtures that reach Neo4j: a test using any of them is marked `neo4j` (scripts/test --fast skips them).
NEO4J_FIXTURES = {"neo4j_settings", "neo4j_driver", "neo4j_driver_clean", "store", "runner", "review_graph"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if NEO4J_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.neo4j)
