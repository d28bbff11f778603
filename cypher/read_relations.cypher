// Every relation name.
MATCH (r:Relation)
RETURN collect(r.name) AS names
