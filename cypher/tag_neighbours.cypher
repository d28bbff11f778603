// Tag neighbourhood: the $k tags nearest to a tag (euclidean distance between the published run's tag
// vectors), with the relations whose range holds each.
// :params {tag: "Cats", k: 10}
MATCH (p:Published {key: 'vectors'})
MATCH (t:Entity {id: $tag}) WHERE t:Tag
WITH p, t, t[p.property] AS x WHERE x IS NOT NULL
CALL db.index.vector.queryNodes(p.tag_index, $k + 1, x) YIELD node AS other, score
WHERE other <> t
RETURN other.id AS tag, round(score, 4) AS similarity, other[p.ranges] AS relations
ORDER BY similarity DESC, tag LIMIT $k
