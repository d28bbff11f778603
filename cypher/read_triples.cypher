// All triples, one record per relation with its heads and tails as aligned lists: few records and
// each relation name sent once, so the client does no per-triple work.
MATCH (h:Entity)-[r:TRIPLE]->(t:Entity)
WHERE r.relation IS NOT NULL
WITH r.relation AS relation, collect(h.id) AS heads, collect(t.id) AS tails
RETURN relation, heads, tails
