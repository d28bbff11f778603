// Top inferred tags of one video, best first, with score and calibrated confidence.
// Parameters: $video (video id), $run (run id, or null for whatever is inferred now), $limit.
//   :params {video: "v0001", run: null, limit: 10}
MATCH (v:Video {id: $video})-[e:INFERRED]->(tag:Entity)
WHERE $run IS NULL OR e.run = $run
RETURN v.id AS video, v.title AS title, e.relation AS relation, tag.id AS tag,
       e.rank AS rank, e.score AS score, e.confidence AS confidence,
       coalesce(e.status, 'pending') AS status, e.run AS run
ORDER BY e.confidence DESC, e.rank ASC
LIMIT toInteger($limit)  // Browser stores :params numbers as floats
