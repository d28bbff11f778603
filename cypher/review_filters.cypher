// The choices for the review filters: runs and relations that have pending inferred edges.
MATCH (:Video)-[e:INFERRED]->(:Entity)
WHERE e.status IS NULL OR e.status = 'pending'
RETURN e.run AS run, e.relation AS relation, count(*) AS n
ORDER BY run, relation
