// A modality's stored dimension (no row when unknown).
MATCH (m:Modality {name: $name})
RETURN m.dim AS dim
