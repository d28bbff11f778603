// Step 2: create the block's edges (kgstore.results.write_inferred). Each tag of the block is looked
// up once ($tags, collected in the order of $tags) and each video once ($videos); the edges are
// parallel lists grouped by video: video j owns rows $start[j] .. $start[j + 1] - 1, and $tag[i]
// is a position in $tags: one index seek per video and per tag instead of two per edge. Every tag was
// checked to exist; decided twins were left out by the caller, which compares `created` with the
// rows it sent. $attention: [] or, for a run with relation-conditioned modality attention, one
// parallel list per segment (in the order of the Run node's `segments`); edge i gets the list
// e.attention = [$attention[0][i], $attention[1][i], ...], the p_{v,r,s} that scored it (eq. 4 with
// the relation's logits). One list property, not one property per segment: with 4 segments, a
// 1,000-video block's replace (60,000 edges deleted and created) overran the transaction memory of a
// 768 MB heap with per-segment properties and fits with the list (bench/writeback.py --segments).
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
FOREACH (_ IN CASE WHEN size($attention) > 0 THEN [1] ELSE [] END |
  SET e.attention = [s IN range(0, size($attention) - 1) | $attention[s][i]])
RETURN count(*) AS created
