// Live tags: for a video and a relation, the $k tags nearest to h_vid + r (TransE runs, as published),
// among the relation's range (its tails in the run's training), leaving out the video's own triples and
// the edges curators rejected, ranked by the run's exact score -||h_vid + r - t||_p. The tag index
// returns the nearest tags of any relation, so it is asked for $k * $overfetch and filtered. Its
// euclidean order is the score's for L2 runs; for L1 runs (p_norm 1) it is not, and the query asks it
// for every tag (p.tags), so that the exact score ranks the whole range (bench/vectors.py).
// :params {video: "v0001", live_relation: "has_topic", k: 10, overfetch: 50}
MATCH (p:Published {key: 'vectors'}) WHERE p.base = 'transe'
MATCH (v:Entity {id: $video}), (rel:Relation {name: $live_relation})
WITH p, v, v[p.property] AS h, rel[p.property] AS r
WHERE h IS NOT NULL AND r IS NOT NULL
WITH p, v, [i IN range(0, size(h) - 1) | h[i] + r[i]] AS q
CALL db.index.vector.queryNodes(p.tag_index, CASE p.p_norm WHEN 1 THEN p.tags ELSE $k * $overfetch END, q)
  YIELD node AS t
WITH p, v, q, t
WHERE $live_relation IN t[p.ranges]
  AND NOT EXISTS { (v)-[:TRIPLE {relation: $live_relation}]->(t) }
  AND NOT EXISTS { (v)-[:INFERRED {relation: $live_relation, status: 'rejected'}]->(t) }
WITH p, q, t, t[p.property] AS tv
WITH t, CASE p.p_norm
          WHEN 1 THEN reduce(s = 0.0, i IN range(0, size(q) - 1) | s + abs(q[i] - tv[i]))
          ELSE sqrt(reduce(s = 0.0, i IN range(0, size(q) - 1) | s + (q[i] - tv[i]) ^ 2))
        END AS distance
RETURN t.id AS tag, -distance AS score
ORDER BY score DESC, tag LIMIT $k
