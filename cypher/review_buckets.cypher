// Acceptance rate by confidence bucket over decided edges: does the calibration hold?
// $buckets equal-width buckets on [0, 1]; confidence 1.0 falls in the last one.
MATCH (:Video)-[e:INFERRED]->(:Entity)
WHERE e.status IN ['accepted', 'rejected'] AND ($run IS NULL OR e.run = $run)
WITH e, coalesce(e.confidence, 0.0) AS confidence
WITH e, confidence, toInteger(floor(confidence * $buckets)) AS b
WITH e, confidence, CASE WHEN b >= $buckets THEN $buckets - 1 WHEN b < 0 THEN 0 ELSE b END AS bucket
RETURN bucket,
       sum(CASE e.status WHEN 'accepted' THEN 1 ELSE 0 END) AS accepted,
       sum(CASE e.status WHEN 'rejected' THEN 1 ELSE 0 END) AS rejected,
       avg(confidence) AS mean_confidence
ORDER BY bucket
