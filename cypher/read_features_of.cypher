// The vectors of property $key of the given entities (one page of a rank's shard: its videos and the
// entities it shares; kgtag.runs.shard), looked up on the Entity.id index; entities without the
// property are left out. Ids and values aligned.
UNWIND $ids AS id
MATCH (v:Entity {id: id})
WHERE v[$key] IS NOT NULL
RETURN collect(v.id) AS ids, collect(v[$key]) AS vectors
