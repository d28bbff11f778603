// One page of triples: the triples of the next $limit head entities after $after in id order
// (keyset paging on the Entity.id index), optionally only relation $relation.
MATCH (h:Entity)
WHERE h.id > $after
WITH h ORDER BY h.id LIMIT $limit
WITH collect(h) AS page, last(collect(h.id)) AS last
UNWIND page AS h
OPTIONAL MATCH (h)-[r:TRIPLE]->(t:Entity)
WHERE r.relation IS NOT NULL AND ($relation IS NULL OR r.relation = $relation)
WITH last, h, r, t WHERE r IS NOT NULL
RETURN last, collect(h.id) AS heads, collect(r.relation) AS relations, collect(t.id) AS tails
