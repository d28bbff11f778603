// Remove a publish slot's translation vectors and range lists from the relations.
MATCH (r:Relation) WHERE r[$property] IS NOT NULL OR r[$ranges] IS NOT NULL
SET r[$property] = null, r[$ranges] = null
