// The triples that already leave the batch's head nodes, as three aligned lists (coalesce keeps them
// aligned: collect() drops nulls).
UNWIND $heads AS hid
MATCH (h) WHERE elementId(h) = hid
MATCH (h)-[r:TRIPLE]->(t:Entity)
RETURN collect(hid) AS h, collect(coalesce(r.relation, "")) AS r, collect(elementId(t)) AS t
