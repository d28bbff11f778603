// Create triples known to be new (same transaction as the check in ingest_triples_existing).
// Columnar parameters: $nodes the batch's distinct element ids; $hi, $ti indexes into $nodes and
// $ri into $rels, aligned per triple. Each node is looked up once per batch; the WHERE makes sure the
// collected nodes are exactly $nodes in order (else nothing is created and the caller fails).
UNWIND $nodes AS eid
MATCH (n) WHERE elementId(n) = eid
WITH collect(n) AS ns
WHERE [n IN ns | elementId(n)] = $nodes
UNWIND range(0, size($hi) - 1) AS i
WITH ns[$hi[i]] AS h, ns[$ti[i]] AS t, $rels[$ri[i]] AS relation
CREATE (h)-[:TRIPLE {relation: relation}]->(t)
