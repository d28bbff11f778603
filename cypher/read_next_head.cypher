// The last head id of the next page of $limit entities after $after (null when none are left).
MATCH (h:Entity)
WHERE h.id > $after
WITH h ORDER BY h.id LIMIT $limit
RETURN last(collect(h.id)) AS last
