// Similar videos: the $k videos nearest to a video by the cosine of their fused vectors h_vid (the
// published run's, `kgtag publish`), with the tags each shares with it. The video is found through
// :Entity(id), the unique constraint's index: `(v:Video {id: ...})` has no index and scans every video.
// :params {video: "v0001", k: 10}
MATCH (p:Published {key: 'vectors'})
MATCH (v:Entity {id: $video}) WHERE v:Video
WITH p, v, v[p.property] AS h WHERE h IS NOT NULL
CALL db.index.vector.queryNodes(p.video_index, $k + 1, h) YIELD node AS other, score
WHERE other <> v
WITH v, other, score ORDER BY score DESC LIMIT $k
OPTIONAL MATCH (v)-[:TRIPLE]->(t:Tag)<-[:TRIPLE]-(other)
WITH other, score, collect(DISTINCT t.id) AS shared
RETURN other.id AS video, other.title AS title, round(score, 4) AS similarity, shared
ORDER BY similarity DESC, video
