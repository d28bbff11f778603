// Relations ranked by the relation attention a run learned (q_r of eq. 5 in the TransFusion paper).
// Parameters: $run (run id, or null for the latest run), $limit.
//   :params {run: null, limit: 10}
MATCH (run:Run)
WHERE $run IS NULL OR run.id = $run
WITH run ORDER BY run.created DESC LIMIT 1
MATCH (run)-[w:RELATION_ATTENTION]->(rel:Relation)
RETURN run.id AS run, rel.name AS relation, w.weight AS attention
ORDER BY attention DESC, relation
LIMIT toInteger($limit)  // Browser stores :params numbers as floats
