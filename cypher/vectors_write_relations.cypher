// Each relation's translation vector r into a publish slot (the live-tags query adds it to h_vid), and
// the ids of the tags in its range (its training tails; null for none) under $ranges.
UNWIND range(0, size($names) - 1) AS i
MATCH (r:Relation {name: $names[i]})
SET r[$property] = $vectors[i],
    r[$ranges] = CASE WHEN size($range_ids[i]) > 0 THEN $range_ids[i] END
RETURN count(r) AS written
