// Pending inferred edges for curators, lowest confidence first (kgstore.review.pending).
// $relation, $run: null means any. $min_conf <= confidence <= $max_conf. $skip, $limit: paging.
// An edge without a confidence counts as 0 so it is seen first, never hidden. `attention`: the
// edge's own modality attention (runs with relation-conditioned attention: a list in the order of
// the run's `segments`; null for other runs).
MATCH (v:Video)-[e:INFERRED]->(t:Entity)
WHERE (e.status IS NULL OR e.status = 'pending')
  AND ($relation IS NULL OR e.relation = $relation)
  AND ($run IS NULL OR e.run = $run)
WITH v, e, t, coalesce(e.confidence, 0.0) AS confidence
WHERE confidence >= $min_conf AND confidence <= $max_conf
RETURN elementId(e) AS id, v.id AS video, v.title AS title, e.relation AS relation, t.id AS tag,
       e.score AS score, confidence, e.rank AS rank, e.run AS run,
       e.attention AS attention
ORDER BY confidence ASC, e.score ASC, video, relation, tag
SKIP $skip LIMIT $limit
