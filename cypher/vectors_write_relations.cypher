// Each relation's translation vector r into a publish slot (the live-tags query adds it to h_vid).
UNWIND range(0, size($names) - 1) AS i
MATCH (r:Relation {name: $names[i]})
SET r[$property] = $vectors[i]
RETURN count(r) AS written
