// Step 1 of a decision (kgstore.review.decide): take the write lock on each inferred edge, in the
// order given (sorted ids, so two bulk decisions cannot deadlock on each other). A concurrent
// decision on the same edge waits here until the first one commits; step 2 then reads its result.
UNWIND $ids AS id
MATCH (:Video)-[e:INFERRED]->(:Entity)
WHERE elementId(e) = id
SET e.review_lock = true
