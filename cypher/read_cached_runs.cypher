// Runs whose graph cache may be reused for a graph of this fingerprint: the digest of the cache's
// manifest, recorded when the cache was written. Newest first.
MATCH (r:Run {graph_fingerprint: $fingerprint})
WHERE r.cache_digest IS NOT NULL
RETURN r.id AS id, r.cache_digest AS digest
ORDER BY r.created DESC
