// What changed between two runs: metrics, relation attention, average modality attention and the
// inferred edges each run holds now (pending, accepted, rejected).
// Parameters: $a (older run id), $b (newer run id).
//   :params {a: "run-a", b: "run-b"}
MATCH (a:Run {id: $a}), (b:Run {id: $b})
CALL (a, b) {
  UNWIND ['mr', 'mrr', 'hits1', 'hits3', 'hits10'] AS metric
  RETURN 'metric' AS kind, metric AS name, a[metric] AS in_a, b[metric] AS in_b
  UNION ALL
  MATCH (rel:Relation)
  OPTIONAL MATCH (a)-[wa:RELATION_ATTENTION]->(rel)
  OPTIONAL MATCH (b)-[wb:RELATION_ATTENTION]->(rel)
  WITH rel, wa, wb WHERE wa IS NOT NULL OR wb IS NOT NULL
  RETURN 'relation attention' AS kind, rel.name AS name, wa.weight AS in_a, wb.weight AS in_b
  UNION ALL
  MATCH (:Video)-[m:MODALITY_ATTENTION]->(run:Run) WHERE run IN [a, b]
  UNWIND [key IN keys(m) WHERE key <> 'run'] AS segment
  WITH segment, avg(CASE WHEN run = a THEN m[segment] END) AS in_a, avg(CASE WHEN run = b THEN m[segment] END) AS in_b
  RETURN 'modality attention' AS kind, segment AS name, in_a, in_b
  UNION ALL
  MATCH (:Video)-[e:INFERRED]->() WHERE e.run IN [a.id, b.id]
  WITH coalesce(e.status, 'pending') AS status, e.run AS run, count(*) AS edges
  WITH status, sum(CASE WHEN run = a.id THEN edges ELSE 0 END) AS in_a, sum(CASE WHEN run = b.id THEN edges ELSE 0 END) AS in_b
  RETURN 'inferred edges' AS kind, status AS name, in_a, in_b
}
RETURN kind, name, in_a, in_b, in_b - in_a AS change
