// Inferred edges waiting for a curator, least confident first.
// Parameters: $relation and $run (or null for any), $min_conf and $max_conf (0..1), $limit.
//   :params {relation: null, run: null, min_conf: 0.0, max_conf: 1.0, limit: 50}
MATCH (v:Video)-[e:INFERRED]->(tag:Entity)
WHERE coalesce(e.status, 'pending') = 'pending'
  AND ($relation IS NULL OR e.relation = $relation)
  AND ($run IS NULL OR e.run = $run)
  AND e.confidence >= $min_conf AND e.confidence <= $max_conf
RETURN elementId(e) AS edge, v.id AS video, v.title AS title, e.relation AS relation, tag.id AS tag,
       e.score AS score, e.confidence AS confidence, e.rank AS rank, e.run AS run
ORDER BY e.confidence ASC, e.rank DESC
LIMIT toInteger($limit)  // Browser stores :params numbers as floats
