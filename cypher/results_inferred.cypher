// Step 2: create the block's edges, one row per edge as parallel lists (no map per row: less to send
// and to unpack). Every tag was checked to exist; decided twins were left out by the caller.
UNWIND range(0, size($video) - 1) AS i
MATCH (v:Entity {id: $video[i]})
MATCH (t:Entity {id: $tag[i]})
CREATE (v)-[:INFERRED {relation: $relation[i], score: $score[i], confidence: $confidence[i], rank: $rank[i],
                       run: $run, status: 'pending'}]->(t)
