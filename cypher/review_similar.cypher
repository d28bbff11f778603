// Beside each inferred edge of the review page: the $k videos most similar to its video (cosine of the
// published fused vectors, `kgtag publish`), each with whether it already has the edge's tag. No row
// until a run is published, or for a video without a published vector.
MATCH (p:Published {key: 'vectors'})
UNWIND $rows AS row
MATCH (v:Entity {id: row.video}) WHERE v:Video
WITH p, row, v, v[p.property] AS h WHERE h IS NOT NULL
CALL db.index.vector.queryNodes(p.video_index, $k + 1, h) YIELD node AS other, score
WITH row, v, other, score WHERE other <> v
ORDER BY score DESC
WITH row, collect({video: other.id, title: other.title, similarity: score,
                   has_tag: EXISTS { (other)-[:TRIPLE]->(:Entity {id: row.tag}) }})[..$k] AS similar
RETURN row.video AS video, row.tag AS tag, similar
