// The graph's published-vectors pointer (one node, or none): which run's vectors the queries read,
// under which property and indexes, and a publish in progress (pending_run, pending_slot).
OPTIONAL MATCH (p:Published {key: 'vectors'})
RETURN p {.*} AS pointer
