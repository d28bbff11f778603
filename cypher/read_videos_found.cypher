// For each id of $ids: whether the entity exists, and whether it holds a vector of any modality
// property in $keys (aligned lists).
UNWIND $ids AS id
OPTIONAL MATCH (e:Entity {id: id})
RETURN collect(e IS NOT NULL) AS found, collect(coalesce(any(key IN $keys WHERE e[key] IS NOT NULL), false)) AS featured
