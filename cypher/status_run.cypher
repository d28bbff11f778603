// One training run with everything needed to resume or use it.
// Parameters: $run (run id).
MATCH (run:Run {id: $run})
RETURN run {.*} AS run
