// All stored vectors of one modality in one record. Fine for a small graph; the trainer pages
// instead (read_features_page), and its test compares the two.
MATCH (v:Entity)
WHERE v[$key] IS NOT NULL
RETURN collect(v.id) AS ids, collect(v[$key]) AS vectors
