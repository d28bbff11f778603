// Live tags: for a video and a relation, the $k tags nearest to h_vid + r (TransE runs with one vector per
// video, as published; nothing for a relation-conditioned run),
// among the relation's range (its tails in the run's training), leaving out the video's own triples and
// the edges curators rejected, ranked by the run's exact score -||h_vid + r - t||_p.
// Candidates: the relation's whole range when it holds no more tags than the index would be asked for
// (and every range of an L1 run, p_norm 1, whose score the euclidean index does not order); else the tag
// index's nearest tags to h_vid + r, $k * $overfetch times the inverse of the range's share of all tags,
// so that about $k * $overfetch of them fall in the range (bench/vectors.py measures it). For L2 runs the
// euclidean similarity 1 / (1 + d^2) (the index's score, or vector.similarity.euclidean on the whole
// range) orders the candidates, and only the first 3 * $k left after the exclusions are re-ranked by the
// exact score: reading every candidate's vector and scoring it in Cypher cost up to 100 ms at 100k videos
// (docs/graph-model.md "Published vectors"). The exclusions are read from the video's own edges.
// :params {video: "v0001", live_relation: "has_topic", k: 10, overfetch: 10}
MATCH (p:Published {key: 'vectors'}) WHERE p.base = 'transe' AND NOT coalesce(p.conditioned, false)
MATCH (v:Entity {id: $video}), (rel:Relation {name: $live_relation})
WITH p, v, v[p.property] AS h, rel[p.property] AS r, coalesce(rel[p.ranges], []) AS range_ids
WHERE h IS NOT NULL AND r IS NOT NULL
WITH p, v, range_ids, [i IN range(0, size(h) - 1) | h[i] + r[i]] AS q,
     toInteger($k * $overfetch * ceil(1.0 * p.tags / CASE WHEN size(range_ids) > 0 THEN size(range_ids) ELSE 1 END))
       AS fetch
WITH p, v, range_ids, q, fetch, p.p_norm = 1 OR size(range_ids) <= fetch AS whole
CALL (p, q, range_ids, fetch, whole) {
  WITH * WHERE whole
  UNWIND range_ids AS id
  MATCH (t:Entity {id: id}) WHERE t:Tag
  RETURN t, CASE WHEN p.p_norm = 1 THEN 0.0 ELSE vector.similarity.euclidean(q, t[p.property]) END AS near
  UNION ALL
  WITH * WHERE NOT whole
  CALL db.index.vector.queryNodes(p.tag_index, CASE WHEN fetch < p.tags THEN fetch ELSE p.tags END, q)
    YIELD node AS t, score AS near
  WITH t, near WHERE $live_relation IN t[p.ranges]
  RETURN t, near
}
WITH p, v, q, t, near ORDER BY near DESC, t.id
WITH p, v, q, collect(t) AS candidates
WITH p, q, candidates, COLLECT { MATCH (v)-[e:TRIPLE|INFERRED]->(x)
                                 WHERE e.relation = $live_relation AND (type(e) = 'TRIPLE' OR e.status = 'rejected')
                                 RETURN x } AS known
WITH p, q, [t IN candidates WHERE NOT t IN known] AS kept
UNWIND kept[..CASE WHEN p.p_norm = 1 THEN size(kept) ELSE $k * 3 END] AS t
WITH p, q, t, t[p.property] AS tv
WITH t, CASE p.p_norm
          WHEN 1 THEN reduce(s = 0.0, i IN range(0, size(q) - 1) | s + abs(q[i] - tv[i]))
          ELSE sqrt(reduce(s = 0.0, i IN range(0, size(q) - 1) | s + (q[i] - tv[i]) ^ 2))
        END AS distance
RETURN t.id AS tag, -distance AS score
ORDER BY score DESC, tag LIMIT $k
