// Step 2: replace the pending INFERRED edges of each (video, relation) group with this run's edges, in
// one transaction per batch of groups, after results_inferred_lock locked the batch's videos. Decided edges (accepted / rejected) stay, and no pending edge is
// added next to a decided one for the same (video, relation, tag).
UNWIND $groups AS g
MATCH (v:Entity {id: g.video})
REMOVE v.infer_lock
WITH v, g
CALL (v, g) {
  MATCH (v)-[old:INFERRED {relation: g.relation}]->()
  WHERE old.status IS NULL OR old.status = 'pending'
  DELETE old
}
CALL (v, g) {
  UNWIND g.edges AS e
  MATCH (t:Entity {id: e.tag})
  WHERE NOT EXISTS { (v)-[d:INFERRED {relation: g.relation}]->(t) WHERE d.status IN ['accepted', 'rejected'] }
  CREATE (v)-[:INFERRED {relation: g.relation, score: e.score, confidence: e.confidence, rank: e.rank,
                         run: $run, status: 'pending'}]->(t)
}
