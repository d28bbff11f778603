// Every video's text property (e.g. its title), to compute text features from.
// Parameters: $property (property name).
MATCH (v:Video) WHERE v[$property] IS NOT NULL AND trim(toString(v[$property])) <> ''
RETURN v.id AS id, toString(v[$property]) AS text
ORDER BY id
