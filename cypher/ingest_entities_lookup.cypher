// Which of $ids exist already: their element ids (rows aligned in the two lists).
UNWIND $ids AS id
MATCH (e:Entity {id: id})
RETURN collect(id) AS ids, collect(elementId(e)) AS eids
