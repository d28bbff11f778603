// One page of a modality's vectors: the next $limit entities after $after in id order that hold
// property $key (keyset paging on the Entity.id index), ids and values aligned.
MATCH (v:Entity)
WHERE v.id > $after AND v[$key] IS NOT NULL
WITH v ORDER BY v.id LIMIT $limit
RETURN collect(v.id) AS ids, collect(v[$key]) AS vectors
