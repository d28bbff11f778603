// Average modality attention over the videos of a run (p of eq. 3-4 in the TransFusion paper):
// how much each segment (the knowledge embedding and each modality) weighs in the fused video vector.
// Parameters: $run (run id, or null for the latest run that has attention).
//   :params {run: null}
MATCH (run:Run)
WHERE ($run IS NULL OR run.id = $run) AND EXISTS { (:Video)-[:MODALITY_ATTENTION]->(run) }
WITH run ORDER BY run.created DESC LIMIT 1
MATCH (:Video)-[a:MODALITY_ATTENTION]->(run)
UNWIND [key IN keys(a) WHERE key <> 'run'] AS segment
RETURN run.id AS run, segment, avg(a[segment]) AS attention, count(*) AS videos
ORDER BY attention DESC
