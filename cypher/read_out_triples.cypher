// The TRIPLE edges leaving the given entities (a block of videos being inferred: the tags they have
// now are not proposed again). One record of parallel lists.
UNWIND $ids AS id
MATCH (:Entity {id: id})-[t:TRIPLE]->(x:Entity)
RETURN collect(id) AS heads, collect(t.relation) AS relations, collect(x.id) AS tails
