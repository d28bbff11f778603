MATCH (r:Run {id: $id})
RETURN count(r) AS n
