// One MODALITY_ATTENTION edge per (video, run) holding the weight of each segment (eq. 3-4).
MATCH (run:Run {id: $run})
UNWIND $rows AS row
MATCH (v:Entity {id: row.video})
MERGE (v)-[a:MODALITY_ATTENTION {run: $run}]->(run)
SET a = row.weights, a.run = $run
