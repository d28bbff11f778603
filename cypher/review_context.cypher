// Why a tag was inferred: the video's existing tags and its modality attention in that run.
// $rows: [{video, run}]; $max_tags: how many existing tags to return per video.
UNWIND $rows AS row
MATCH (v:Video {id: row.video})
OPTIONAL MATCH (v)-[ma:MODALITY_ATTENTION {run: row.run}]->(:Run)
WITH row, v, head(collect(properties(ma))) AS attention
RETURN row.video AS video, row.run AS run,
       [(v)-[tr:TRIPLE]->(t:Entity) | {relation: tr.relation, tag: t.id}][..$max_tags] AS tags,
       COUNT { (v)-[:TRIPLE]->(:Entity) } AS n_tags,
       attention
