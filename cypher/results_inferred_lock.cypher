// Step 1 of writing a batch of inferred edges (kgstore.results.write_inferred): take the write lock
// on each video of the batch, in sorted order (no deadlock between two writers). Of two `kgtag infer`
// on one run, the second waits here, then step 2 sees and replaces the first one's pending edges
// instead of adding its own next to them.
UNWIND $videos AS id
MATCH (v:Entity {id: id})
SET v.infer_lock = true
