// Whether a relation has tags in its range in the published run (an empty live-tags answer explained).
MATCH (p:Published {key: 'vectors'})
OPTIONAL MATCH (t:Tag) WHERE $relation IN t[p.ranges]
RETURN count(t) > 0 AS has_range
