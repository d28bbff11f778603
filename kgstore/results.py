"""Writing the trainer's outputs back: runs, inferred edges, attention weights (graph-model.md).

- `write_run`: a `(:Run)` with hyper-parameters and metrics (as JSON and as flat numbers).
- `write_inferred`: `(video)-[:INFERRED {relation, score, confidence, rank, run, status}]->(tag)`; a
  new run's edges for a (video, relation) replace that pair's *pending* edges atomically (one
  transaction per batch of whole groups); accepted/rejected edges are kept.
- `write_modality_attention`: per video, the segment weights p of eq. 3-4.
- `write_relation_attention`: per relation, q_r of eq. 5.
"""

from __future__ import annotations

import json
import re
from typing import Sequence

import numpy as np
import pandas as pd

from .store import Store, StoreError, cypher

SEGMENT_NAME = re.compile(r"[a-z][a-z0-9_]*")
GROUPS_PER_BATCH = 2_000
_RUN_FIELDS = ("created", "model", "base", "modalities", "params_json", "metrics_json", "checkpoint", "status")


def write_run(store: Store, run: dict) -> str:
    """Create or update `(:Run {id})` from a dict: `id` (required), the fields of the contract, and
    optionally `params` / `metrics` dicts (stored as JSON; numeric metrics also as flat properties,
    e.g. `mrr`, `hits10`; a nested {"filtered": {...}} becomes `filtered_mrr`). Returns the id."""
    if not run.get("id") or not isinstance(run["id"], str):
        raise ValueError("a run needs a string id")
    props = {}
    for key, value in run.items():
        if key in ("id", "params", "metrics"):
            continue
        if isinstance(value, (list, tuple)):
            value = list(value)
        elif isinstance(value, dict):
            value = json.dumps(value, sort_keys=True)
        props[key] = value
    if "params" in run:
        props["params_json"] = json.dumps(run["params"], sort_keys=True, default=str)
    if "metrics" in run:
        props["metrics_json"] = json.dumps(run["metrics"], sort_keys=True, default=str)
        props.update(_flat_metrics(run["metrics"]))
    store.query("results_run", id=run["id"], props=props)
    return run["id"]


def _flat_metrics(metrics: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flat_metrics(value, name + "_"))
        elif isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def _require_run(store: Store, run_id: str) -> None:
    if store.query("results_run_exists", routing="r", id=run_id)[0]["n"] == 0:
        raise StoreError(f"unknown run {run_id!r}: write it with results.write_run first")


def _require_entities(store: Store, ids) -> None:
    ids = pd.unique(np.asarray(ids, dtype=object)).tolist()
    missing = store.query("results_missing_entities", routing="r", ids=ids)[0]["missing"]
    if missing:
        raise StoreError(f"{len(missing)} ids are not in the graph, e.g. {missing[:3]}")


def write_inferred(store: Store, run_id: str, video_ids, relations, tag_ids, scores, confidences, ranks) -> int:
    """Write inferred edges (parallel arrays, one row per edge); returns the number of rows sent."""
    frame = pd.DataFrame({
        "video": np.asarray(video_ids, dtype=object), "relation": np.asarray(relations, dtype=object),
        "tag": np.asarray(tag_ids, dtype=object), "score": np.asarray(scores, dtype=np.float64),
        "confidence": np.asarray(confidences, dtype=np.float64), "rank": np.asarray(ranks, dtype=np.int64),
    })
    if frame.empty:
        return 0
    if not np.isfinite(frame[["score", "confidence"]].to_numpy()).all():
        raise ValueError("scores and confidences must be finite")
    _require_run(store, run_id)
    _require_entities(store, np.concatenate([frame["video"].to_numpy(), frame["tag"].to_numpy()]))
    frame = frame.drop_duplicates(["video", "relation", "tag"], keep="first")
    groups = [
        {"video": video, "relation": relation,
         "edges": g[["tag", "score", "confidence", "rank"]].to_dict("records")}
        for (video, relation), g in frame.groupby(["video", "relation"], sort=False)
    ]
    with store.session() as session:
        for start in range(0, len(groups), GROUPS_PER_BATCH):
            batch = groups[start:start + GROUPS_PER_BATCH]
            session.execute_write(_write_inferred_batch, batch, run_id)
    return len(frame)


def _write_inferred_batch(tx, groups: list[dict], run_id: str) -> None:
    tx.run(cypher("results_inferred_lock"), videos=sorted({g["video"] for g in groups})).consume()
    tx.run(cypher("results_inferred"), groups=groups, run=run_id).consume()


def write_modality_attention(store: Store, run_id: str, video_ids, segment_names: Sequence[str], weights) -> None:
    """Store each video's modality attention (weights[V, S], columns = `segment_names`)."""
    names = list(segment_names)
    if bad := [n for n in names if not SEGMENT_NAME.fullmatch(n) or n == "run"]:
        raise ValueError(f"segment names {bad} must match [a-z][a-z0-9_]* (and not be 'run')")
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(video_ids), len(names)):
        raise ValueError(f"weights have shape {weights.shape}, expected ({len(video_ids)}, {len(names)})")
    _require_run(store, run_id)
    _require_entities(store, video_ids)
    rows = [{"video": v, "weights": dict(zip(names, w))} for v, w in zip(list(video_ids), weights.tolist())]
    with store.session() as session:
        for start in range(0, len(rows), 5_000):
            batch = rows[start:start + 5_000]
            session.execute_write(lambda tx: tx.run(cypher("results_modality_attention"), rows=batch, run=run_id).consume())


def write_relation_attention(store: Store, run_id: str, relations: Sequence[str], weights) -> None:
    """Store the run's relation attention q_r (eq. 5), one weight per relation name."""
    weights = np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(weights) != len(relations):
        raise ValueError(f"{len(weights)} weights for {len(relations)} relations")
    _require_run(store, run_id)
    rows = [{"relation": r, "weight": w} for r, w in zip(list(relations), weights.tolist())]
    store.query("results_relation_attention", rows=rows, run=run_id)
