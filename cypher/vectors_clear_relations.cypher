// Remove a publish slot's translation vectors from the relations.
MATCH (r:Relation) WHERE r[$property] IS NOT NULL
SET r[$property] = null
