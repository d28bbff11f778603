// Per relation: how many inferred edges are pending / accepted / rejected ($run: null = all runs).
MATCH (:Video)-[e:INFERRED]->(:Entity)
WHERE $run IS NULL OR e.run = $run
WITH e.relation AS relation, coalesce(e.status, 'pending') AS status
RETURN relation,
       sum(CASE status WHEN 'pending' THEN 1 ELSE 0 END) AS pending,
       sum(CASE status WHEN 'accepted' THEN 1 ELSE 0 END) AS accepted,
       sum(CASE status WHEN 'rejected' THEN 1 ELSE 0 END) AS rejected
ORDER BY relation
