// One page of videos holding a vector of any modality property in $keys: the next $limit ids after
// $after in id order (keyset paging on the Entity.id index). The caller drops the ones a run knows.
MATCH (v:Entity)
WHERE v.id > $after AND v:Video AND any(key IN $keys WHERE v[key] IS NOT NULL)
WITH v ORDER BY v.id LIMIT $limit
RETURN collect(v.id) AS ids
