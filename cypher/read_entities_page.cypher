// One page of entities: the next $limit ids after $after in id order (keyset paging on the
// Entity.id index) and whether each is a video, as two aligned lists.
MATCH (e:Entity)
WHERE e.id > $after
WITH e ORDER BY e.id LIMIT $limit
RETURN collect(e.id) AS ids, collect(e:Video) AS video
