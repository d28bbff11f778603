// Knowledge triples and inferred edges per relation.
MATCH (rel:Relation)
CALL (rel) {
  OPTIONAL MATCH ()-[k:TRIPLE {relation: rel.name}]->()
  RETURN count(k) AS triples
}
CALL (rel) {
  OPTIONAL MATCH (:Video)-[e:INFERRED {relation: rel.name}]->()
  RETURN count(e) AS inferred, count(CASE WHEN e.status = 'accepted' THEN 1 END) AS accepted,
         count(CASE WHEN e.status = 'rejected' THEN 1 END) AS rejected
}
RETURN rel.name AS relation, triples, inferred, accepted, rejected
ORDER BY triples DESC, relation
