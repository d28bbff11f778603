// Step 1 of writing a block of inferred edges (kgstore.results.write_inferred): take the write lock on
// each video of the block, in sorted order (no deadlock between two writers), and return the edges a
// curator already decided (accepted / rejected) for the block's relations: no pending twin is added
// next to them. Of two `kgtag infer` on one run, the second waits here, then step 2 deletes the first
// one's pending edges instead of adding its own next to them.
UNWIND $videos AS id
MATCH (v:Entity {id: id})
SET v.infer_lock = true
RETURN id, COLLECT {
  MATCH (v)-[d:INFERRED]->(t)
  WHERE d.relation IN $relations AND d.status IN ['accepted', 'rejected']
  RETURN [d.relation, t.id]
} AS decided
