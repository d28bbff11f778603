// One block of a run's entity vectors into a publish slot: $ids[i] gets $vectors[i] under $property
// and, for tags, the relations whose range holds it ($ranges_of[i], under $ranges; null for none).
UNWIND range(0, size($ids) - 1) AS i
MATCH (e:Entity {id: $ids[i]})
SET e[$property] = $vectors[i],
    e[$ranges] = CASE WHEN size($ranges_of[i]) > 0 THEN $ranges_of[i] END
RETURN count(e) AS written
