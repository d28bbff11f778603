"""A small demo-like graph with inferred edges, built with plain Cypher following the contract graph
model (docs/graph-model.md), for the review and web tests (they do not depend on ingest/infer)."""

from __future__ import annotations

VIDEOS = [
    {"id": "v001", "title": "Kitten meets puppy", "tags": [("has_subject", "Cats"), ("has_subject", "Dogs"), ("uploaded_by", "u_anna")],
     "attention": {"knowledge": 0.5, "vision": 0.3, "audio": 0.1, "text": 0.1}},
    {"id": "v002", "title": "Guitar solo at dusk", "tags": [("has_music", "Rock"), ("uploaded_by", "u_ben")],
     "attention": {"knowledge": 0.2, "vision": 0.1, "audio": 0.6, "text": 0.1}},
    {"id": "v003", "title": "Street food tour 🍜 台北", "tags": [("has_subject", "Food"), ("uploaded_by", "u_anna")],
     "attention": {"knowledge": 0.25, "vision": 0.45, "audio": 0.05, "text": 0.25}},
    {"id": "v004", "title": None, "tags": [], "attention": {"knowledge": 0.0, "vision": 0.7, "audio": 0.3}},
]

# (video, relation, tag, score, confidence, rank, run)
INFERRED = [
    ("v001", "has_subject", "Pets", -1.2, 0.91, 1, "run-b"),
    ("v001", "has_music", "Pop", -3.5, 0.12, 1, "run-b"),
    ("v002", "has_music", "Blues", -2.0, 0.44, 1, "run-b"),
    ("v002", "has_subject", "Music", -1.8, 0.67, 1, "run-b"),
    ("v003", "has_subject", "Travel", -2.4, 0.35, 1, "run-b"),
    ("v003", "has_music", "Jazz", -4.1, 0.05, 1, "run-b"),
    ("v004", "has_subject", "Cats", -2.9, 0.22, 1, "run-b"),
    ("v004", "has subject (legacy) `x`", "Dogs", -3.0, 0.30, 2, "run-a"),
    ("v001", "has_subject", "Travel", -5.0, 0.08, 2, "run-a"),
]

BUILD = """
UNWIND $videos AS video
MERGE (v:Entity {id: video.id}) SET v:Video, v.title = video.title
FOREACH (pair IN video.tags |
  MERGE (t:Entity {id: pair[1]}) ON CREATE SET t:Tag
  MERGE (:Relation {name: pair[0]})
  MERGE (v)-[:TRIPLE {relation: pair[0], source: 'ingest'}]->(t))
WITH collect(video) AS videos
UNWIND $runs AS run_id
MERGE (:Run {id: run_id, model: 'transfusion', status: 'done'})
WITH videos, collect(run_id) AS runs
UNWIND videos AS video
UNWIND runs AS run_id
MATCH (v:Video {id: video.id}), (r:Run {id: run_id})
CREATE (v)-[ma:MODALITY_ATTENTION {run: run_id}]->(r)
SET ma += video.attention
WITH count(*) AS _
UNWIND $inferred AS row
MATCH (v:Video {id: row[0]})
MERGE (t:Entity {id: row[2]}) ON CREATE SET t:Tag
MERGE (:Relation {name: row[1]})
CREATE (v)-[:INFERRED {relation: row[1], score: row[3], confidence: row[4], rank: row[5], run: row[6]}]->(t)
"""


def build(driver) -> None:
    """Write the graph above (the database is expected empty)."""
    driver.execute_query(BUILD, videos=VIDEOS, runs=["run-a", "run-b"],
                         inferred=[list(row) for row in INFERRED])


def edge_id(driver, video: str, relation: str, tag: str) -> str:
    records, _, _ = driver.execute_query(
        "MATCH (:Video {id: $v})-[e:INFERRED {relation: $r}]->(:Entity {id: $t}) RETURN elementId(e) AS id",
        v=video, r=relation, t=tag)
    assert len(records) == 1, (video, relation, tag, records)
    return records[0]["id"]


def edge_state(driver, video: str, relation: str, tag: str) -> dict:
    """The inferred edge's status fields and the TRIPLEs (count, provenance) for the same triple."""
    records, _, _ = driver.execute_query(
        """MATCH (v:Video {id: $v})-[e:INFERRED {relation: $r}]->(t:Entity {id: $t})
           OPTIONAL MATCH (v)-[tr:TRIPLE {relation: $r}]->(t)
           RETURN e.status AS status, e.decided_by AS decided_by, e.decided_at AS decided_at,
                  e.review_lock AS lock, collect(properties(tr)) AS triples""",
        v=video, r=relation, t=tag)
    return records[0].data()


# Published vectors for the review page's similar-videos panel: v004 is nearest v001 (which has Cats),
# then v003, then v002 (cosine).
VECTORS = {"v001": [1.0, 0.0, 0.0, 0.0], "v002": [0.0, 1.0, 0.0, 0.0], "v003": [0.7, 0.3, 0.0, 0.0],
           "v004": [0.95, 0.0, 0.05, 0.0]}


def publish_vectors(store) -> None:
    """Publish VECTORS as run-b's through kgstore.vectors (slot a, dimension 4), as `kgtag publish` would."""
    import numpy as np

    from kgtag.kgstore import vectors as kv

    slot = kv.SLOTS["a"]
    kv.begin(store, "run-b", slot)
    kv.write_entities(store, slot, list(VECTORS), np.array(list(VECTORS.values())), [[] for _ in VECTORS], 100)
    kv.create_indexes(store, slot, 4)
    assert kv.flip(store, "run-b", slot, "transe", 2, 4, 0)
