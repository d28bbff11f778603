// Step 2: create the block's edges (kgstore.results.write_inferred). Each tag of the block is looked
// up once ($tags, collected in the order of $tags) and each video once ($videos); the edges are
// parallel lists grouped by video: video j owns rows $start[j] .. $start[j + 1] - 1, and $tag[i]
// is a position in $tags: one index seek per video and per tag instead of two per edge. Every tag was
// checked to exist; decided twins were left out by the caller, which compares `created` with the
// rows it sent. $attention: [] or one map per edge, {attention_<segment>: p_{v,r,s}} (relation-conditioned
// modality attention, eq. 4 with the relation's logits: the weights that scored this edge).
UNWIND range(0, size($tags) - 1) AS k
MATCH (t:Entity {id: $tags[k]})
WITH k, t ORDER BY k
WITH collect(t) AS tag_nodes
UNWIND range(0, size($videos) - 1) AS j
MATCH (v:Entity {id: $videos[j]})
UNWIND range($start[j], $start[j + 1] - 1) AS i
WITH v, tag_nodes[$tag[i]] AS t, i
CREATE (v)-[e:INFERRED {relation: $relation[i], score: $score[i], confidence: $confidence[i], rank: $rank[i],
                        run: $run}]->(t)
SET e += coalesce($attention[i], {})
RETURN count(*) AS created
