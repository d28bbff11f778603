// Whether a relation has tags in its range in the published run (an empty live-tags answer explained).
MATCH (p:Published {key: 'vectors'})
OPTIONAL MATCH (r:Relation {name: $relation})
RETURN size(coalesce(r[p.ranges], [])) > 0 AS has_range
