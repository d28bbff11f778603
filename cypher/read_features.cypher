// All stored vectors of one modality: entity ids and the property values, aligned.
MATCH (v:Entity)
WHERE v[$key] IS NOT NULL
RETURN collect(v.id) AS ids, collect(v[$key]) AS vectors
