// Live tags: for a video and a relation, the $k tags nearest to h_vid + r (TransE runs, as published),
// among the relation's range (its tails in the run's training), leaving out the video's own triples and
// the edges curators rejected, ranked by the run's exact score -||h_vid + r - t||_p.
// Candidates: a range of at most $k * $overfetch tags is scored whole (exact); so is every range of an
// L1 run (p_norm 1), whose score the euclidean index does not order. A larger range of an L2 run takes
// the tag index's nearest tags to h_vid + r, $k * $overfetch times the inverse of the range's share of
// all tags, so that about $k * $overfetch of them fall in the range (bench/vectors.py measures it).
// :params {video: "v0001", live_relation: "has_topic", k: 10, overfetch: 10}
MATCH (p:Published {key: 'vectors'}) WHERE p.base = 'transe'
MATCH (v:Entity {id: $video}), (rel:Relation {name: $live_relation})
WITH p, v, v[p.property] AS h, rel[p.property] AS r, coalesce(rel[p.ranges], []) AS range_ids
WHERE h IS NOT NULL AND r IS NOT NULL
WITH p, v, range_ids, [i IN range(0, size(h) - 1) | h[i] + r[i]] AS q,
     p.p_norm = 1 OR size(range_ids) <= $k * $overfetch AS whole
CALL (p, q, range_ids, whole) {
  WITH * WHERE whole
  UNWIND range_ids AS id
  MATCH (t:Tag {id: id})
  RETURN t
  UNION
  WITH * WHERE NOT whole
  CALL db.index.vector.queryNodes(p.tag_index,
       toInteger(CASE WHEN $k * $overfetch * ceil(1.0 * p.tags / size(range_ids)) < p.tags
                      THEN $k * $overfetch * ceil(1.0 * p.tags / size(range_ids)) ELSE p.tags END), q)
    YIELD node AS t
  WITH t WHERE $live_relation IN t[p.ranges]
  RETURN t
}
WITH p, v, q, t
WHERE NOT EXISTS { (v)-[:TRIPLE {relation: $live_relation}]->(t) }
  AND NOT EXISTS { (v)-[:INFERRED {relation: $live_relation, status: 'rejected'}]->(t) }
WITH p, q, t, t[p.property] AS tv
WITH t, CASE p.p_norm
          WHEN 1 THEN reduce(s = 0.0, i IN range(0, size(q) - 1) | s + abs(q[i] - tv[i]))
          ELSE sqrt(reduce(s = 0.0, i IN range(0, size(q) - 1) | s + (q[i] - tv[i]) ^ 2))
        END AS distance
RETURN t.id AS tag, -distance AS score
ORDER BY score DESC, tag LIMIT $k
