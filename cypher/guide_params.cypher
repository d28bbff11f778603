// Ids to fill the Browser guide's parameters with: the latest runs, a video with inferred tags and
// its most confident tag and that edge's relation (nulls on an empty graph).
OPTIONAL MATCH (run:Run)
WITH run ORDER BY run.created DESC
WITH collect(run.id) AS runs
OPTIONAL MATCH (v:Video)-[e:INFERRED]->(t:Entity)
WHERE runs = [] OR e.run = runs[0]
WITH runs, v, e, t ORDER BY e.confidence DESC LIMIT 1
RETURN v.id AS video, t.id AS tag, runs[0] AS run, runs[1] AS a, runs[0] AS b, e.relation AS live_relation
