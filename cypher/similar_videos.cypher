// Similar videos: the $k videos nearest to a video by the cosine of their fused vectors h_vid (the
// published run's, `kgtag publish`), with the tags each shares with it.
// :params {video: "v0001", k: 10}
MATCH (p:Published {key: 'vectors'})
MATCH (v:Video {id: $video})
WITH p, v, v[p.property] AS h WHERE h IS NOT NULL
CALL db.index.vector.queryNodes(p.video_index, $k + 1, h) YIELD node AS other, score
WHERE other <> v
WITH v, other, score ORDER BY score DESC LIMIT $k
// the video's own tags, read once; each neighbour is then checked against them from its side (a
// few out-edges), never by expanding a popular tag's in-edges
WITH v, collect({other: other, score: score}) AS near
CALL (v) { OPTIONAL MATCH (v)-[:TRIPLE]->(t:Tag) RETURN collect(DISTINCT t) AS mine }
UNWIND near AS n
WITH n.other AS other, n.score AS score, mine
RETURN other.id AS video, other.title AS title, round(score, 4) AS similarity,
       [t IN mine WHERE EXISTS { (other)-[:TRIPLE]->(t) } | t.id] AS shared
ORDER BY similarity DESC, video
