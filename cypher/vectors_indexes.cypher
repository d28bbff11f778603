// The vector indexes in the graph with their dimension, similarity and state (publish slots a and b).
SHOW VECTOR INDEXES YIELD name, state, labelsOrTypes, properties, options
RETURN name, state, labelsOrTypes[0] AS label, properties[0] AS property,
       options.indexConfig.`vector.dimensions` AS dim,
       options.indexConfig.`vector.similarity_function` AS similarity
ORDER BY name
