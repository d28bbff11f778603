"""Writing the trainer's outputs back: runs, inferred edges, attention weights (graph-model.md).

- `write_run`: a `(:Run)` with hyper-parameters and metrics (as JSON and as flat numbers); `read_run`.
- `write_inferred`: `(video)-[:INFERRED {relation, score, confidence, rank, run}]->(tag)` (no `status`: pending); one
  block of videos per transaction, whose new edges replace those videos' *pending* edges for the
  block's relations atomically; accepted/rejected edges are kept.
  With relation-conditioned modality attention, each edge also carries the weights p_{v,r} that
  scored it: `attention`, a list of floats in the order of the Run node's `segments`.
- `write_modality_attention`: per video, the segment weights p of eq. 3-4.
- `write_relation_attention`: per relation, q_r of eq. 5.
"""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np
import pandas as pd

from kgtag.conventions import MODALITY_NAME

from .store import Store, StoreError, cypher

_RUN_FIELDS = ("created", "model", "base", "modalities", "params_json", "metrics_json", "checkpoint", "status")


def write_run(store: Store, run: dict) -> str:
    """Create or update `(:Run {id})` from a dict: `id` (required), the fields of the contract, and
    optionally `params` / `metrics` dicts (stored as JSON; the headline figures also as numbers,
    see `headline_metrics`). Returns the id."""
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
        props.update(headline_metrics(run["metrics"]))
    store.query("results_run", id=run["id"], props=props)
    return run["id"]


def read_run(store: Store, run_id: str) -> dict | None:
    """The Run node's properties, or None when there is no such run."""
    rows = store.query("status_run", routing="r", run=run_id)
    return dict(rows[0]["run"]) if rows else None


def cached_runs(store: Store, fingerprint: str) -> list[tuple[str, str]]:
    """(run id, cache digest) of the runs that recorded a graph cache of this fingerprint, newest first."""
    return [(r["id"], r["digest"]) for r in store.query("read_cached_runs", routing="r", fingerprint=fingerprint)]


HEADLINE = ("mr", "mrr", "hits1", "hits3", "hits10")


def headline_metrics(metrics: dict) -> dict:
    """The figures a Run node carries as numbers (the rest stays in metrics_json): MR, MRR and Hits@k
    of the filtered ranking, or of the raw one when there is no filtered."""
    flat = metrics.get("filtered") or metrics.get("raw") or {}
    return {key: float(flat[key]) for key in HEADLINE if key in flat}


def _require_run(store: Store, run_id: str) -> None:
    if store.query("results_run_exists", routing="r", id=run_id)[0]["n"] == 0:
        raise StoreError(f"unknown run {run_id!r}: write it with results.write_run first")


def _require_entities(store: Store, ids) -> None:
    ids = pd.unique(np.asarray(ids, dtype=object)).tolist()
    missing = store.query("results_missing_entities", routing="r", ids=ids)[0]["missing"]
    if missing:
        raise StoreError(f"{len(missing)} ids are not in the graph, e.g. {missing[:3]}")


def write_inferred(store: Store, run_id: str, video_ids, relations, tag_ids, scores, confidences, ranks,
                   replace: tuple[Sequence[str], Sequence[str]] | None = None, attention=None) -> int:
    """Write inferred edges (parallel arrays, one row per edge) in one transaction; returns the number
    of edges created.

    attention: weights[N, S], the modality attention of relation-conditioned eq. 4 for each edge's
    (video, relation), stored on the edge as the list `attention` (segments in the order of the Run
    node's `segments`).

    The pending edges of `replace = (videos, relations)` are deleted first in the same transaction, so
    a block of inference replaces what an earlier one left (default: the videos and relations of the
    rows). Decided edges (accepted / rejected) stay, and no pending twin is created next to one. The
    caller sizes the block: `kgtag.runs.infer` writes one block of videos per call.
    """
    frame = pd.DataFrame({
        "video": np.asarray(video_ids, dtype=object), "relation": np.asarray(relations, dtype=object),
        "tag": np.asarray(tag_ids, dtype=object), "score": np.asarray(scores, dtype=np.float64),
        "confidence": np.asarray(confidences, dtype=np.float64), "rank": np.asarray(ranks, dtype=np.int64),
    })
    if not np.isfinite(frame[["score", "confidence"]].to_numpy()).all():
        raise ValueError("scores and confidences must be finite")
    if attention is not None:
        frame = frame.join(_attention_columns(attention, len(frame)))
    videos, scope = replace if replace is not None else (pd.unique(frame["video"]), pd.unique(frame["relation"]))
    videos, scope = sorted(set(videos)), sorted(set(scope))
    if not videos:
        return 0
    _require_run(store, run_id)
    _require_entities(store, np.concatenate([np.asarray(videos, dtype=object), pd.unique(frame["tag"])]))
    frame = frame.drop_duplicates(["video", "relation", "tag"], keep="first")
    with store.session() as session:
        return session.execute_write(_replace_block, frame, videos, scope, run_id)


def _replace_block(tx, frame: pd.DataFrame, videos: list[str], relations: list[str], run_id: str) -> int:
    decided = [tuple(row.values()) for row in tx.run(cypher("results_inferred_lock"), videos=videos, relations=relations)]
    if decided:
        frame = frame[~pd.MultiIndex.from_frame(frame[["video", "relation", "tag"]]).isin(decided)]
    frame = frame.sort_values("video", kind="stable")  # the statement takes the edges grouped by video
    video = frame["video"].to_numpy()
    start = np.flatnonzero(np.r_[True, video[1:] != video[:-1]]) if len(video) else np.zeros(0, dtype=np.int64)
    tag, tags = pd.factorize(frame["tag"])
    segments = [c for c in frame.columns if c.startswith(_ATTENTION)]
    created = tx.run(cypher("results_inferred"), run=run_id, videos=video[start].tolist(),
                     start=[*start.tolist(), len(frame)], tags=tags.tolist(), tag=tag.tolist(),
                     relation=frame["relation"].tolist(), score=frame["score"].tolist(),
                     confidence=frame["confidence"].tolist(), rank=frame["rank"].tolist(),
                     attention=[frame[c].tolist() for c in segments]).single()["created"]
    if created != len(frame):  # an end was deleted since it was checked: roll the block back
        raise StoreError(f"a video or tag of this block was deleted while it was written ({created} of "
                         f"{len(frame)} edges); nothing of the block was stored, run it again")
    return created


_ATTENTION = "_attention_"  # the frame's per-segment weight columns (kept through the filters, then sent as lists)


def _attention_columns(weights, rows: int) -> pd.DataFrame:
    """The per-edge weights [N, S] as S frame columns, checked (shape, finite)."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[0] != rows or weights.shape[1] == 0:
        raise ValueError(f"attention has shape {weights.shape}, expected ({rows}, segments)")
    if not np.isfinite(weights).all():
        raise ValueError("attention weights must be finite")
    return pd.DataFrame(weights, columns=[f"{_ATTENTION}{s}" for s in range(weights.shape[1])])


def write_modality_attention(store: Store, run_id: str, video_ids, segment_names: Sequence[str], weights) -> None:
    """Store each video's modality attention (weights[V, S], columns = `segment_names`)."""
    names = list(segment_names)
    if bad := [n for n in names if not MODALITY_NAME.fullmatch(n) or n == "run"]:
        raise ValueError(f"segment names {bad} must match [a-z][a-z0-9_]* (and not be 'run')")
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(video_ids), len(names)):
        raise ValueError(f"weights have shape {weights.shape}, expected ({len(video_ids)}, {len(names)})")
    _require_run(store, run_id)
    _require_entities(store, video_ids)
    rows = [{"video": v, "weights": dict(zip(names, w))} for v, w in zip(list(video_ids), weights.tolist())]
    store.write_batches(len(rows), 5_000, lambda tx, a, b: tx.run(cypher("results_modality_attention"),
                                                                  rows=rows[a:b], run=run_id).consume())


def write_relation_attention(store: Store, run_id: str, relations: Sequence[str], weights) -> None:
    """Store the run's relation attention q_r (eq. 5), one weight per relation name."""
    weights = np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(weights) != len(relations):
        raise ValueError(f"{len(weights)} weights for {len(relations)} relations")
    _require_run(store, run_id)
    rows = [{"relation": r, "weight": w} for r, w in zip(list(relations), weights.tolist())]
    store.query("results_relation_attention", rows=rows, run=run_id)
