// Create or update a training run; $props holds the flat properties (metrics included).
MERGE (r:Run {id: $id})
ON CREATE SET r.created = datetime()
SET r += $props
