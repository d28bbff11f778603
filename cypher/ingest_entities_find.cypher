// Element ids of $ids (null where the entity does not exist), aligned with $ids.
UNWIND $ids AS id
OPTIONAL MATCH (e:Entity {id: id})
RETURN collect(coalesce(elementId(e), "")) AS eids
