// Counts that tell a bench database from one holding other data (labels(n), so that an absent
// marker label raises no "unknown label" notification).
MATCH (n)
WITH 'KgtagBenchDatabase' IN labels(n) AS marker
RETURN count(CASE WHEN marker THEN 1 END) AS marked, count(CASE WHEN NOT marker THEN 1 END) AS nodes
