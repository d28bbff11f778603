// Which modality drove each inferred tag of a video: runs trained with relation-conditioned modality
// attention (ModelConfig.relation_modality) store on every INFERRED edge the weights p_{v,r,s} of
// eq. 3-4 with the relation's logits, as the list `attention` in the order of the run's `segments`
// (knowledge, then the modalities); they sum to 1. `driven_by` is the segment with the largest
// weight. Other runs store attention per video only (MODALITY_ATTENTION; see modality_attention_avg):
// no row here.
// Parameters: $video (video id), $run (run id, or null for whatever is inferred now), $limit.
//   :params {video: "v0001", run: null, limit: 25}
MATCH (v:Video {id: $video})-[e:INFERRED]->(tag:Entity)
WHERE ($run IS NULL OR e.run = $run) AND e.attention IS NOT NULL
MATCH (run:Run {id: e.run})
WITH v, e, tag, [j IN range(0, size(e.attention) - 1) | {segment: run.segments[j], weight: e.attention[j]}] AS weights
WITH v, e, tag, weights,
     reduce(best = head(weights), w IN weights | CASE WHEN w.weight > best.weight THEN w ELSE best END) AS top
RETURN v.id AS video, e.relation AS relation, tag.id AS tag, e.rank AS rank, e.confidence AS confidence,
       top.segment AS driven_by, top.weight AS weight, weights, e.run AS run
ORDER BY e.relation, e.rank
LIMIT toInteger($limit)  // Browser stores :params numbers as floats
