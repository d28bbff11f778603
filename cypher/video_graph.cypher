// A video as a graph: its known tags (TRIPLE) and its inferred tags (INFERRED), for Neo4j Browser's graph view.
// Parameters: $video (video id).
//   :params {video: "v0001"}
MATCH p = (v:Video {id: $video})-[:TRIPLE|INFERRED]->(:Entity)
RETURN p
