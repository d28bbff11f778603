// kgtag graph schema (docs/graph-model.md). Every statement is idempotent (IF NOT EXISTS);
// kgstore.schema.ensure_schema runs them one by one (split on ';').

// One node per entity; a video or a tag is an :Entity with an extra :Video or :Tag label.
CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (e:Entity) REQUIRE e.id IS UNIQUE;
CREATE CONSTRAINT relation_name IF NOT EXISTS FOR (r:Relation) REQUIRE r.name IS UNIQUE;
CREATE CONSTRAINT modality_name IF NOT EXISTS FOR (m:Modality) REQUIRE m.name IS UNIQUE;
CREATE CONSTRAINT run_id IF NOT EXISTS FOR (r:Run) REQUIRE r.id IS UNIQUE;
// The one graph version counter (kgstore.fingerprint): two first writers must not make two.
CREATE CONSTRAINT graph_version_key IF NOT EXISTS FOR (g:GraphVersion) REQUIRE g.key IS UNIQUE;
// Analysts write `MATCH (v:Video {id: $video})`: the unique constraint indexes :Entity only, so without
// these that pattern scans every video (58 ms p50 at 100k videos, docs/graph-model.md).
CREATE INDEX video_id IF NOT EXISTS FOR (v:Video) ON (v.id);
CREATE INDEX tag_id IF NOT EXISTS FOR (t:Tag) ON (t.id);

// All knowledge triples share the type TRIPLE; these let "all triples of relation r" and
// "inferred edges of run x / relation r" start from an index instead of a scan.
CREATE INDEX triple_relation IF NOT EXISTS FOR ()-[t:TRIPLE]-() ON (t.relation);
CREATE INDEX inferred_run IF NOT EXISTS FOR ()-[i:INFERRED]-() ON (i.run);
CREATE INDEX inferred_relation IF NOT EXISTS FOR ()-[i:INFERRED]-() ON (i.relation);
CREATE INDEX inferred_status IF NOT EXISTS FOR ()-[i:INFERRED]-() ON (i.status);
CREATE INDEX inferred_confidence IF NOT EXISTS FOR ()-[i:INFERRED]-() ON (i.confidence);
// The one published-vectors pointer (kgstore.vectors): two publishes must not make two.
CREATE CONSTRAINT published_key IF NOT EXISTS FOR (p:Published) REQUIRE p.key IS UNIQUE;
