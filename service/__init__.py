"""The run service: train, resume, evaluate and infer runs on the graph in Neo4j, as a library.

The CLI, the demo and notebooks call these functions; failures they expect raise `RunError`s
(one line each, see errors.py). The README's "From Python" section shows a notebook session.
"""

from .errors import BadInput, Interrupted, RunError, RunNotFound, StoreLost
from .evaluate import CANDIDATES, DEFAULT_CANDIDATES, evaluate_run, protocol, score_run
from .infer import (BLOCK_VIDEOS, DEFAULT_MIN_CONFIDENCE, WRITERS, Inferred, InferSummary, infer_and_write, infer_blocks,
                    infer_run, inferred_rows, select_videos, tag_relations, write_inferred)
from .load import LoadedRun, load_run
from .plan import RunPlan, display_name
from .sample import ingest_sample, sample_dir
from .train import resume_run, train_run

__all__ = [
    "BadInput", "Interrupted", "RunError", "RunNotFound", "StoreLost",
    "CANDIDATES", "DEFAULT_CANDIDATES", "evaluate_run", "protocol", "score_run",
    "BLOCK_VIDEOS", "DEFAULT_MIN_CONFIDENCE", "WRITERS", "Inferred", "InferSummary", "infer_and_write", "infer_blocks", "infer_run", "inferred_rows", "select_videos", "tag_relations", "write_inferred",
    "LoadedRun", "load_run", "RunPlan", "display_name", "ingest_sample", "sample_dir", "resume_run", "train_run",
]
