// Step 1 of writing a block of inferred edges (kgstore.results.write_inferred): take the write lock on
// each video of the block, in sorted order (no deadlock between two writers; the lock is held until
// the transaction ends), delete the pending INFERRED edges those videos have for the block's
// relations, whatever run wrote them, and return the ones a curator decided (accepted / rejected):
// those stay, and no pending twin is added next to them. Of two `kgtag infer` on one run, the second
// waits here, then deletes the first one's pending edges instead of adding its own next to them.
UNWIND $videos AS id
MATCH (v:Entity {id: id})
SET v.infer_lock = true
REMOVE v.infer_lock
WITH id, v
OPTIONAL MATCH (v)-[e:INFERRED]->(t)
WHERE e.relation IN $relations
WITH id, e, t, coalesce(e.status, 'pending') = 'pending' AS pending
CALL (e, pending) {
  WITH e WHERE pending AND e IS NOT NULL
  DELETE e
}
WITH id, e, t, pending
WHERE e IS NOT NULL AND NOT pending
RETURN id, e.relation AS relation, t.id AS tag
