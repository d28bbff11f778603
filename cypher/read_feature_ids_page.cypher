// One page of the entities holding a modality's vector: the next $limit ids after $after in id order
// that hold property $key (keyset paging on the Entity.id index), without the vectors: which
// entities have the modality, for every rank of a distributed run (kgtag.runs.shard).
MATCH (v:Entity)
WHERE v.id > $after AND v[$key] IS NOT NULL
WITH v ORDER BY v.id LIMIT $limit
RETURN collect(v.id) AS ids
