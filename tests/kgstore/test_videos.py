"""Video records + TOML mapping (paper section 3.1.2) against the real Neo4j."""

from __future__ import annotations

import json

import pytest

from kgtag.kgstore import videos
from kgtag.kgstore.errors import InputError

MAPPING = """
id_field = "id"
properties = ["title"]
drop = ["internal_score"]
unmapped = "relation"
[relations.has_characters]
relation = "has_characters"
normalize = "title"
[relations.genre]
relation = "has genre"
normalize = "lower"
split = ","
"""


def write(tmp_path, records, mapping=MAPPING):
    rec = tmp_path / "videos.jsonl"
    rec.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    mp = tmp_path / "mapping.toml"
    mp.write_text(mapping, encoding="utf-8")
    return rec, mp


def edges(store):
    records = store.driver.execute_query(
        "MATCH (v:Video)-[r:TRIPLE]->(t:Entity) RETURN v.id AS v, r.relation AS r, t.id AS t").records
    return {(r["v"], r["r"], r["t"]) for r in records}


def test_mapper_relations_lists_split_drop_properties(store, tmp_path):
    rec, mp = write(tmp_path, [
        {"id": "v1", "title": "Cats & dogs", "has_characters": ["male", " female "], "genre": "Comedy, FAMILY",
         "internal_score": 0.3},
        {"id": "v2", "title": "小猫 🐱", "has_characters": "male", "mood": "happy", "views": 12},
        {"id": "v3", "has_characters": None},
    ])
    report = videos.ingest_videos(store, rec, mp)
    assert report.videos == 3 and report.triples_created == 7
    assert edges(store) == {
        ("v1", "has_characters", "Male"), ("v1", "has_characters", "Female"), ("v1", "has genre", "comedy"),
        ("v1", "has genre", "family"), ("v2", "has_characters", "Male"), ("v2", "mood", "happy"), ("v2", "views", "12"),
    }
    titles = {r["id"]: r["title"] for r in store.driver.execute_query("MATCH (v:Video) RETURN v.id AS id, v.title AS title").records}
    assert titles == {"v1": "Cats & dogs", "v2": "小猫 🐱", "v3": None}
    tags = {r["id"] for r in store.driver.execute_query("MATCH (t:Tag) RETURN t.id AS id").records}
    assert tags == {"Male", "Female", "comedy", "family", "happy", "12"}
    assert store.driver.execute_query("MATCH (v:Video) WHERE v.internal_score IS NOT NULL RETURN count(v) AS n").records[0]["n"] == 0
    again = videos.ingest_videos(store, rec, mp)
    assert (again.triples_created, again.entities_created) == (0, 0)


def test_a_tag_that_turns_out_to_be_a_video_loses_the_tag_label(store, tmp_path):
    rec, mp = write(tmp_path, [{"id": "v1", "related": "v2"}, {"id": "v2"}])
    videos.ingest_videos(store, rec, mp)
    labels = {r["id"]: set(r["labels"]) for r in store.driver.execute_query("MATCH (e:Entity) RETURN e.id AS id, labels(e) AS labels").records}
    assert labels == {"v1": {"Entity", "Video"}, "v2": {"Entity", "Video"}}


@pytest.mark.parametrize("records, line, words", [
    (['{"id": "v1"}', '{"id": "v2", '], 2, "not valid JSON"),
    (['{"id": "v1"}', '["v2"]'], 2, "JSON object"),
    (['{"id": "v1"}', '{"title": "x"}'], 2, "missing or empty id"),
    (['{"id": "v1"}', '{"id": "  "}'], 2, "missing or empty id"),
    (['{"id": "v1"}', '{"id": "v1"}'], 2, "already appears on line 1"),
    (['{"id": "v1", "mood": {"a": 1}}'], 1, "values must be strings"),
])
def test_bad_records_are_rejected_before_writing(store, tmp_path, records, line, words):
    rec, mp = write(tmp_path, records)
    with pytest.raises(InputError) as error:
        videos.ingest_videos(store, rec, mp)
    assert error.value.line == line and words in str(error.value)
    assert store.driver.execute_query("MATCH (e:Entity) RETURN count(e) AS n").records[0]["n"] == 0


def test_unmapped_error_and_bad_mapping(store, tmp_path):
    rec, mp = write(tmp_path, [{"id": "v1", "has_characters": "x"}, {"id": "v2", "surprise": "y"}],
                    mapping=MAPPING.replace('unmapped = "relation"', 'unmapped = "error"'))
    with pytest.raises(InputError, match=r"videos.jsonl:2: attribute 'surprise' is not in the mapping"):
        videos.ingest_videos(store, rec, mp)
    for bad, words in [("unmapped = \"maybe\"", "unmapped must be"), ("[relations.a]\nnormalize = \"upper\"", "normalize must be"),
                       ("colour = 1", "unknown key"), ("properties = [\"feat_x\"]", "reserved"), ("x = [", "not valid TOML")]:
        mp.write_text(bad, encoding="utf-8")
        with pytest.raises(InputError, match=words):
            videos.load_mapping(mp)


def test_injection_values_are_data(store, tmp_path):
    evil = "x'}) DETACH DELETE n //"
    store.driver.execute_query("CREATE (:Bystander)")
    rec, mp = write(tmp_path, [{"id": evil, "title": evil, "mood": evil, "odd `name`": "a b"}])
    videos.ingest_videos(store, rec, mp)
    assert edges(store) == {(evil, "mood", evil), (evil, "odd `name`", "a b")}
    assert store.driver.execute_query("MATCH (b:Bystander) RETURN count(b) AS n").records[0]["n"] == 1
