// Step 2: delete the pending INFERRED edges of the block's videos for the block's relations (whatever
// run wrote them: the newest inference replaces them) and release the lock of step 1.
UNWIND $videos AS id
MATCH (v:Entity {id: id})
REMOVE v.infer_lock
WITH v
MATCH (v)-[old:INFERRED]->()
WHERE old.relation IN $relations AND coalesce(old.status, 'pending') = 'pending'
DELETE old
