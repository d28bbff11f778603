// How many pending edges match the review filters (same filters as review_pending).
MATCH (:Video)-[e:INFERRED]->(:Entity)
WHERE (e.status IS NULL OR e.status = 'pending')
  AND ($relation IS NULL OR e.relation = $relation)
  AND ($run IS NULL OR e.run = $run)
  AND coalesce(e.confidence, 0.0) >= $min_conf AND coalesce(e.confidence, 0.0) <= $max_conf
RETURN count(e) AS n
