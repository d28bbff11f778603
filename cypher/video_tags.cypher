// The tags a video already has (its knowledge triples), with where each came from.
// Parameters: $video (video id).
//   :params {video: "v0001"}
MATCH (v:Video {id: $video})-[k:TRIPLE]->(tag:Entity)
RETURN v.id AS video, v.title AS title, k.relation AS relation, tag.id AS tag,
       coalesce(k.source, 'ingest') AS source
ORDER BY relation, tag
