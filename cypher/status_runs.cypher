// Training runs with their metrics, newest first.
MATCH (run:Run)
RETURN run.id AS run, run.created AS created, run.model AS model, run.base AS base,
       run.modalities AS modalities, run.status AS status, run.mr AS mr, run.mrr AS mrr,
       run.hits1 AS hits1, run.hits3 AS hits3, run.hits10 AS hits10, run.candidates AS candidates,
       run.protocol AS protocol, run.checkpoint AS checkpoint
ORDER BY run.created DESC
