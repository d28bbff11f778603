// The run's attention weight q_r per relation (eq. 5).
MATCH (run:Run {id: $run})
UNWIND $rows AS row
MERGE (rel:Relation {name: row.relation})
MERGE (run)-[a:RELATION_ATTENTION]->(rel)
SET a.weight = row.weight
