// Videos for a tag: those inferred to have it (most confident first), then those that already have it.
// Parameters: $tag (tag id), $relation (or null for any), $limit.
//   :params {tag: "Cats", relation: null, limit: 25}
MATCH (tag:Entity {id: $tag})
CALL (tag) {
  MATCH (v:Video)-[e:INFERRED]->(tag)
  WHERE $relation IS NULL OR e.relation = $relation
  RETURN v, e.relation AS relation, 'inferred' AS how, e.confidence AS confidence, e.score AS score,
         coalesce(e.status, 'pending') AS status, e.run AS run
  UNION ALL
  MATCH (v:Video)-[k:TRIPLE]->(tag)
  WHERE $relation IS NULL OR k.relation = $relation
  RETURN v, k.relation AS relation, 'known' AS how, null AS confidence, null AS score,
         coalesce(k.source, 'ingest') AS status, k.run AS run
}
RETURN v.id AS video, v.title AS title, relation, how, confidence, score, status, run
ORDER BY how DESC, confidence DESC, video
LIMIT toInteger($limit)  // Browser stores :params numbers as floats
