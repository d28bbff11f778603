// Node counts per kgtag label (each count comes from Neo4j's count store, no scan).
MATCH (n:Entity) RETURN 'Entity' AS label, count(n) AS nodes
UNION ALL MATCH (n:Video) RETURN 'Video' AS label, count(n) AS nodes
UNION ALL MATCH (n:Tag) RETURN 'Tag' AS label, count(n) AS nodes
UNION ALL MATCH (n:Relation) RETURN 'Relation' AS label, count(n) AS nodes
UNION ALL MATCH (n:Modality) RETURN 'Modality' AS label, count(n) AS nodes
UNION ALL MATCH (n:Run) RETURN 'Run' AS label, count(n) AS nodes
