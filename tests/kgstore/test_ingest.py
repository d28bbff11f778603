"""Triple ingest against the real Neo4j: formats, idempotence, resumption and bad input."""

from __future__ import annotations

import gzip

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kgtag.kgstore import ingest, schema
from kgtag.kgstore.errors import InputError
from kgtag.kgstore.read import read_graph


def triples_in_db(store) -> set[tuple[str, str, str]]:
    records, _, _ = store.driver.execute_query(
        "MATCH (h:Entity)-[r:TRIPLE]->(t:Entity) RETURN h.id AS h, r.relation AS r, t.id AS t")
    return {(r["h"], r["r"], r["t"]) for r in records}


def count(store, pattern: str) -> int:
    return store.driver.execute_query(f"MATCH {pattern} RETURN count(*) AS n").records[0]["n"]


def test_schema_is_idempotent(store):
    schema.ensure_schema(store)
    schema.ensure_schema(store)
    names = {r["name"] for r in store.driver.execute_query("SHOW CONSTRAINTS YIELD name").records}
    assert {"entity_id", "relation_name", "modality_name", "run_id"} <= names
    indexes = {r["name"] for r in store.driver.execute_query("SHOW INDEXES YIELD name").records}
    assert {"triple_relation", "inferred_run", "inferred_relation", "video_id", "tag_id"} <= indexes


def test_a_video_or_tag_found_by_its_own_label_and_id_uses_an_index(store):
    """The pattern analysts write in Browser seeks an index instead of scanning every video."""
    schema.ensure_schema(store)
    store.driver.execute_query("CALL db.awaitIndexes(60)")
    for query in ("MATCH (v:Video {id: $id}) RETURN v", "MATCH (t:Tag {id: $id}) RETURN t"):
        plan = store.driver.execute_query("EXPLAIN " + query, id="x").summary.plan
        ops = []
        stack = [plan]
        while stack:
            node = stack.pop()
            ops.append(node["operatorType"])
            stack.extend(node.get("children", []))
        assert any(op.startswith("NodeIndexSeek") for op in ops), (query, ops)
        assert not any(op.startswith("NodeByLabelScan") for op in ops), (query, ops)


def test_tsv_ingest_twice_adds_nothing(store, tmp_path):
    schema.ensure_schema(store)
    path = tmp_path / "t.tsv"
    path.write_text("Cats\tsubcategory_of\tPets\nDogs\tsubcategory_of\tPets\n\nCats\trelated to\tDogs\n", encoding="utf-8")
    first = ingest.ingest_triples(store, path)
    assert (first.rows, first.triples_created, first.entities_created, first.relations_created) == (3, 3, 3, 2)
    second = ingest.ingest_triples(store, path)
    assert (second.triples_created, second.triples_existing, second.entities_created, second.entities_existing) == (0, 3, 0, 3)
    assert triples_in_db(store) == {("Cats", "subcategory_of", "Pets"), ("Dogs", "subcategory_of", "Pets"), ("Cats", "related to", "Dogs")}
    assert count(store, "(:Entity:Tag)") == 3 and count(store, "(:Relation)") == 2


def test_csv_parquet_and_gzip(store, tmp_path):
    csv = tmp_path / "t.csv.gz"
    csv.write_bytes(gzip.compress(b'head,relation,tail\n"a, b",r1,c\nc,"say ""hi""",a, b\n'.replace(b"a, b\n", b'"a, b"\n')))
    parquet = tmp_path / "t.parquet"
    pq.write_table(pa.table({"head": ["x"], "relation": ["r2"], "tail": ["y"]}), parquet)
    report = ingest.ingest_triples(store, [csv, parquet])
    assert report.triples_created == 3
    assert triples_in_db(store) == {("a, b", "r1", "c"), ("c", 'say "hi"', "a, b"), ("x", "r2", "y")}


def test_duplicate_triples_are_stored_once(store, tmp_path):
    path = tmp_path / "dup.tsv"
    path.write_text("a\tr\tb\na\tr\tb\n a \tr\tb\na\tr2\tb\n", encoding="utf-8")
    report = ingest.ingest_triples(store, path)
    assert (report.rows, report.duplicates, report.triples_created) == (4, 2, 2)
    assert count(store, "()-[:TRIPLE]->()") == 2


def test_interrupted_ingest_is_completed_by_a_rerun(store, tmp_path, monkeypatch):
    path = tmp_path / "many.tsv"
    path.write_text("".join(f"e{i}\tr{i % 3}\te{i + 1}\n" for i in range(250)), encoding="utf-8")
    real = ingest._write_triple_batch
    calls = {"n": 0}

    def crash_after_two(tx, *args):
        calls["n"] += 1
        if calls["n"] > 2:
            raise KeyboardInterrupt("simulated crash")
        return real(tx, *args)

    monkeypatch.setattr(ingest, "_write_triple_batch", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        ingest.ingest_triples(store, path, batch_size=50)
    assert count(store, "()-[:TRIPLE]->()") == 100
    monkeypatch.setattr(ingest, "_write_triple_batch", real)
    report = ingest.ingest_triples(store, path, batch_size=50)
    assert (report.triples_created, report.triples_existing) == (150, 100)
    assert count(store, "()-[:TRIPLE]->()") == 250


@pytest.mark.parametrize("content, line, words", [
    ("a\tr\tb\nc\td\n", 2, "expected 3"),
    ("a\tr\tb\nc\td\te\tf\n", 2, "found 4"),
    ("a\tr\tb\n\tr\tb\n", 2, "empty head id"),
    ("a\tr\tb\nx\t \ty\n", 2, "empty relation"),
])
def test_malformed_lines_are_rejected_with_file_and_line(store, tmp_path, content, line, words):
    path = tmp_path / "bad.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as error:
        ingest.ingest_triples(store, path)
    assert error.value.line == line and error.value.file == str(path)
    assert words in str(error.value) and str(error.value).startswith(f"{path}:{line}: ")
    assert "\n" not in str(error.value)
    assert count(store, "(:Entity)") == 0  # nothing half-written


def test_non_utf8_bytes_name_the_line_and_write_nothing(store, tmp_path):
    good = tmp_path / "good.tsv"
    good.write_text("a\tr\tb\n", encoding="utf-8")
    bad = tmp_path / "bad.tsv"
    bad.write_bytes("a\tr\tb\n猫\tr\tb\n".encode() + b"caf\xe9\tr\tb\n")
    with pytest.raises(InputError, match=r"bad.tsv:3: not valid UTF-8"):
        ingest.ingest_triples(store, [good, bad])
    assert count(store, "(:Entity)") == 0  # the good file is not written either


def test_missing_file_and_unknown_type(store, tmp_path):
    with pytest.raises(InputError, match="no such file"):
        ingest.ingest_triples(store, tmp_path / "nope.tsv")
    odd = tmp_path / "t.xlsx"
    odd.write_text("x")
    with pytest.raises(InputError, match="unknown triple file type"):
        ingest.ingest_triples(store, odd)


def test_chinese_names_from_kuai16k_round_trip(store, tmp_path, shared_data):
    with gzip.open(shared_data / "kuai16k" / "train.txt.gz", "rt", encoding="utf-8") as f:
        lines = [next(f) for _ in range(300)]
    path = tmp_path / "kuai.tsv"
    path.write_text("".join(lines), encoding="utf-8")
    expected = {tuple(line.rstrip("\n").split("\t")) for line in lines}
    report = ingest.ingest_triples(store, path)
    assert report.triples_created == len(expected)
    assert triples_in_db(store) == expected
    snapshot = read_graph(store)
    names = {(snapshot.entities[h], snapshot.relations[r], snapshot.entities[t]) for h, r, t in snapshot.triples.tolist()}
    assert names == expected


def test_emoji_spaces_backticks_and_injection_names_are_plain_data(store, tmp_path):
    store.driver.execute_query("CREATE (:Bystander {keep: true})")
    evil = "x'}) DETACH DELETE n //"
    rows = [
        ("🐱 cat", "has `backtick` rel", "🐶"),
        (evil, "r) DETACH DELETE n //", "ok"),
        ("ok", evil, 'quote " and \\ backslash'),
    ]
    path = tmp_path / "odd.tsv"
    path.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    report = ingest.ingest_triples(store, path)
    assert report.triples_created == 3
    assert triples_in_db(store) == set(rows)
    assert count(store, "(:Bystander)") == 1
    assert {r["name"] for r in store.driver.execute_query("MATCH (r:Relation) RETURN r.name AS name").records} == {r[1] for r in rows}


# ---------------------------------------------------------------------- issue 10, item 7: long lines
def test_a_long_line_parses_and_an_over_long_id_names_file_line_and_limit(store, tmp_path, runner):
    """A 10 MB line no longer trips pyarrow's 1 MB blocks; an id too long for Neo4j's index is refused
    before any write, naming the file, the line and the limit."""
    from kgtag.cli.main import cli
    from kgtag.kgstore.tables import MAX_ID, read_triples

    fine = tmp_path / "fine.tsv"
    fine.write_text("a\tr\tb\n" + "v1\tr\t" + "x" * MAX_ID + "\n" + ("c\tr\td\n" * 400_000) + "e\tr\tf\n")
    frame = read_triples(fine)  # over 1 MB: what were several pyarrow blocks
    assert len(frame) == 400_003 and len(frame["tail"].iloc[1]) == MAX_ID and frame["line"].iloc[-1] == 400_003
    long = tmp_path / "long.tsv"
    long.write_text("a\tr\tb\n" + "v1\tdescribed_as\t" + "x" * 10_000_000 + "\n" + "c\tr\td\n")
    with pytest.raises(InputError) as err:
        read_triples(long)
    assert err.value.line == 2 and f"{MAX_ID:,}" in str(err.value)
    result = runner.invoke(cli, ["ingest", "triples", str(long)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip().startswith(f"Error: {long}:2: tail id of 10,000,000 characters")
    assert count(store, "(n:Entity)") == 0  # nothing written


def test_a_long_video_record_names_the_line(store, tmp_path, runner):
    from kgtag.cli.main import cli

    records = tmp_path / "videos.jsonl"
    records.write_text('{"id": "v1", "title": "' + "t" * 10_000_000 + '", "tag": "ok"}\n'
                       '{"id": "v2", "tag": "' + "x" * 10_000 + '"}\n')
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('id_field = "id"\nproperties = ["title"]\n[relations.tag]\nrelation = "has_tag"\n')
    result = runner.invoke(cli, ["ingest", "videos", str(records), "--mapping", str(mapping)])
    assert result.exit_code == 2 and f"{records}:2:" in result.stderr and "Traceback" not in result.output
