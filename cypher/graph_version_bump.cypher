// Count one more change to the triples or features: every writer of either runs this (kgtag ingest
// before and after its batches, review's accept in its own transaction), so a run cache built from
// an older version is never taken for the current graph (docs/graph-model.md "Run cache"). `epoch`
// is new whenever the node is (a wiped and refilled database starts counting again from 1).
MERGE (g:GraphVersion {key: 'graph'})
  ON CREATE SET g.epoch = randomUUID(), g.version = 0
SET g.version = g.version + 1
RETURN g.version AS version
