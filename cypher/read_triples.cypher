// All triples, one record per relation with its heads and tails as aligned lists. Fine for a small
// graph in the Browser; the trainer pages instead (read_triples_page), and its test compares the two.
MATCH (h:Entity)-[r:TRIPLE]->(t:Entity)
WHERE r.relation IS NOT NULL
WITH r.relation AS relation, collect(h.id) AS heads, collect(t.id) AS tails
RETURN relation, heads, tails
