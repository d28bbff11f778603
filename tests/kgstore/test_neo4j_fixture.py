"""The test database is real and wiped between tests."""


def test_database_is_real_neo4j(neo4j_driver):
    records, _, _ = neo4j_driver.execute_query("CALL dbms.components() YIELD name, versions, edition RETURN *")
    assert records[0]["name"] == "Neo4j Kernel"
    assert records[0]["versions"][0].startswith("5.")


def test_clean_database_is_empty_and_writable(neo4j_driver_clean):
    neo4j_driver_clean.execute_query("CREATE (:Probe {x: 1})")
    records, _, _ = neo4j_driver_clean.execute_query("MATCH (p:Probe) RETURN count(p) AS n")
    assert records[0]["n"] == 1


def test_previous_test_left_nothing(neo4j_driver_clean):
    records, _, _ = neo4j_driver_clean.execute_query("MATCH (p:Probe) RETURN count(p) AS n")
    assert records[0]["n"] == 0
