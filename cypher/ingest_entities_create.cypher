// Create entities known to be new (the caller looked them up first); a new entity is a :Tag until
// video records or features make it a :Video. A concurrent creator makes this fail on the
// uniqueness constraint, and the caller then looks up again.
UNWIND $ids AS id
CREATE (e:Entity:Tag {id: id})
RETURN collect(elementId(e)) AS eids
