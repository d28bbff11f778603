// Each modality, its dimension and how many videos carry its features.
MATCH (m:Modality)
CALL (m) {
  MATCH (v:Video) WHERE v['feat_' + m.name] IS NOT NULL
  RETURN count(v) AS videos
}
RETURN m.name AS modality, m.dim AS dim, videos
ORDER BY modality
