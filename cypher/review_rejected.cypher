// Known negatives for the next training: rejected inferred edges, unless the same triple is now a
// real TRIPLE (accepted later, or ingested), which wins.
MATCH (v:Video)-[e:INFERRED {status: 'rejected'}]->(t:Entity)
WHERE NOT EXISTS { (v)-[:TRIPLE {relation: e.relation}]->(t) }
RETURN DISTINCT v.id AS video, e.relation AS relation, t.id AS tag
ORDER BY video, relation, tag
