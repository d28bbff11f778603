// A modality's stored dimension (no row when unknown).
MATCH (m:Modality {name: $modality})
RETURN m.dim AS dim
