"""`kgtag demo` end to end on a tiny instance, against the real Neo4j, twice (it must be re-runnable)."""

from __future__ import annotations


from kgtag.cli.main import cli


def count(driver, cypher) -> int:
    records, _, _ = driver.execute_query(cypher)
    return records[0]["n"]


def test_demo_tiny_twice(runner, neo4j_driver_clean, tmp_path):
    result = runner.invoke(cli, ["demo", "--tiny", "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in ("Link prediction", "TransE", "TransFusion-VAT", "average modality attention",
                     "top relations by attention", "paper Table 8", "top-5", "MATCH p = (v:Video)",
                     "cmd=edit&arg="):
        assert expected in out, expected
    for segment in ("knowledge", "vision", "audio", "text"):
        assert segment in out
    driver = neo4j_driver_clean
    videos = count(driver, "MATCH (v:Video) RETURN count(v) AS n")
    triples = count(driver, "MATCH ()-[k:TRIPLE]->() RETURN count(k) AS n")
    assert videos == 200
    assert count(driver, "MATCH (r:Run {status: 'done'}) RETURN count(r) AS n") == 2
    assert count(driver, "MATCH (:Video)-[e:INFERRED]->() RETURN count(e) AS n") > 0

    # again: nothing ingested twice, two more runs, the inferred edges replaced, not doubled
    again = runner.invoke(cli, ["demo", "--tiny", "--epochs", "1", "--runs-dir", str(tmp_path / "runs")])
    assert again.exit_code == 0, again.output
    assert count(driver, "MATCH (v:Video) RETURN count(v) AS n") == videos
    assert count(driver, "MATCH ()-[k:TRIPLE]->() RETURN count(k) AS n") == triples
    assert count(driver, "MATCH (r:Run) RETURN count(r) AS n") == 4
    # the second demo's edges replaced the first's (how many pass --min-confidence depends on the run)
    assert count(driver, "MATCH (:Video)-[e:INFERRED]->() RETURN count(DISTINCT e.run) AS n") == 1
    assert count(driver, "MATCH (v:Video)-[e:INFERRED]->(t) WITH v, e.relation AS r, t, count(e) AS n "
                         "WHERE n > 1 RETURN count(*) AS n") == 0
    assert count(driver, "MATCH (:Video)-[e:INFERRED]->() RETURN count(e) AS n") > 0


def test_demo_refuses_a_database_with_other_videos(runner, neo4j_driver_clean, tmp_path):
    neo4j_driver_clean.execute_query("CREATE (:Entity:Video {id: 'my-own-video'})")
    result = runner.invoke(cli, ["demo", "--tiny", "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2 and "not in the demo sample" in result.stderr
    assert "Traceback" not in result.output


def test_demo_without_neo4j_and_without_the_local_script_says_so(runner, monkeypatch):
    import kgtag.cli.demo as demo_mod

    monkeypatch.setattr(demo_mod, "local_neo4j_script", lambda: None)
    result = runner.invoke(cli, ["demo", "--tiny", "--uri", "bolt://127.0.0.1:9"])
    assert result.exit_code == 1 and "does not answer at bolt://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.output


def test_demo_finds_the_local_neo4j_script_in_a_checkout():
    from kgtag.cli.demo import local_neo4j_script

    script = local_neo4j_script()
    assert script is not None and script.name == "neo4j-local"
