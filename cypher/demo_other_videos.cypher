// How many videos in the database are not in the demo sample (the demo refuses to mix into real data).
// Parameters: $ids (the sample's video ids).
MATCH (v:Video) WHERE NOT v.id IN $ids
RETURN count(v) AS n
