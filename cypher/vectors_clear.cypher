// Remove a publish slot's properties from every entity, in transactions of 10,000 nodes (an
// auto-commit query: CALL ... IN TRANSACTIONS). The relations' are removed by vectors_clear_relations.
MATCH (e:Entity) WHERE e[$property] IS NOT NULL OR e[$ranges] IS NOT NULL
CALL { WITH e SET e[$property] = null, e[$ranges] = null } IN TRANSACTIONS OF 10000 ROWS
