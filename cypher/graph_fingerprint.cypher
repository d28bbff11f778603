// What a run cache must match, without reading the graph: node and relationship counts come from
// Neo4j's count store, the modalities are a handful of small nodes, the version is one node.
CALL () { MATCH (e:Entity) RETURN count(e) AS entities }
CALL () { MATCH (v:Video) RETURN count(v) AS videos }
CALL () { MATCH ()-[t:TRIPLE]->() RETURN count(t) AS triples }
CALL () { MATCH (r:Relation) RETURN count(r) AS relations }
CALL () { MATCH (m:Modality) WITH m ORDER BY m.name RETURN collect([m.name, m.dim]) AS modalities }
CALL () { OPTIONAL MATCH (g:GraphVersion {key: 'graph'}) RETURN coalesce(g.version, 0) AS version, g.epoch AS epoch }
RETURN entities, videos, triples, relations, modalities, version, epoch
