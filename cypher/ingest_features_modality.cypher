// The modality's node, created with its dimension on first use; returns the stored dimension.
MERGE (m:Modality {name: $modality})
ON CREATE SET m.dim = $dim
RETURN m.dim AS dim
