// What `kgtag similar` / `kgtag tags` need to explain an empty answer in one line: is a run published,
// is the id in the graph, is it a video, does it have a published vector.
OPTIONAL MATCH (p:Published {key: 'vectors'})
OPTIONAL MATCH (e:Entity {id: $video})
RETURN p.run AS run, p.base AS base, coalesce(p.conditioned, false) AS conditioned, e IS NOT NULL AS found, coalesce(e:Video, false) AS video,
       p IS NOT NULL AND e IS NOT NULL AND e[p.property] IS NOT NULL AS has_vector
