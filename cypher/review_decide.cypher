// Step 2 of a decision, in the same write transaction as review_lock (so the status read here is
// the committed one): decide only edges still pending; report the others as already decided.
// Accepted -> the edge becomes a knowledge TRIPLE with review provenance (kept as is if the triple
// already exists). Rejected -> the edge stays, status 'rejected', as a known negative.
UNWIND $ids AS id
MATCH (v:Video)-[e:INFERRED]->(t:Entity)
WHERE elementId(e) = id
REMOVE e.review_lock
WITH v, e, t, id, e.status AS before, e.decided_by AS decided_by, e.decided_at AS decided_at,
     coalesce(e.status, 'pending') = 'pending' AS open
FOREACH (_ IN CASE WHEN open THEN [1] ELSE [] END |
  SET e.status = $status, e.decided_by = $curator, e.decided_at = $at)
FOREACH (_ IN CASE WHEN open AND $status = 'accepted' THEN [1] ELSE [] END |
  MERGE (rel:Relation {name: e.relation})
  MERGE (v)-[tr:TRIPLE {relation: e.relation}]->(t)
    ON CREATE SET tr.source = 'review', tr.curator = $curator, tr.at = $at, tr.run = e.run)
RETURN id, open AS decided, before AS status, decided_by, decided_at
