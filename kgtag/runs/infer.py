"""Inferred tags of a finished run: top-k per (video, relation) with calibrated confidences, and storing them."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kgtag.embed.infer import Calibrator, modality_attention, predict
from kgtag.kgstore.read import read_graph
from kgtag.kgstore.results import write_inferred as write_edges
from kgtag.kgstore.results import write_modality_attention

from .errors import BadInput
from .evaluate import DEFAULT_CANDIDATES, calibrate, ranking_scope, warn_rangeless
from .graph import known_negatives, remap
from .load import LoadedRun
from .notes import note


@dataclass
class Inferred:
    videos: list[str]  # one per (video, relation) query
    relations: list[str]
    tails: torch.Tensor  # LongTensor[Q, k] entity ids, -1 = none
    scores: torch.Tensor
    confidence: torch.Tensor
    rank: torch.Tensor
    calibration: dict


def inferred_rows(run: LoadedRun, inferred: Inferred, videos=None, per_pair: int | None = None) -> list[dict]:
    """Flat rows (video, relation, rank, tag, score, confidence), optionally for some videos and the
    best `per_pair` of each (video, relation): for printing, JSON or a DataFrame."""
    out = []
    for q, (video, relation) in enumerate(zip(inferred.videos, inferred.relations)):
        if videos is not None and video not in videos:
            continue
        for j, t in enumerate(inferred.tails[q].tolist()[:per_pair]):
            if t >= 0:
                out.append({"video": video, "relation": relation, "rank": int(inferred.rank[q, j]),
                            "tag": run.entities[t], "score": float(inferred.scores[q, j]),
                            "confidence": float(inferred.confidence[q, j])})
    return out


def tag_relations(run: LoadedRun) -> list[str]:
    """Relations that link videos to tags in the training graph: the ones worth inferring."""
    t = run.known
    mask = run.is_video[t[:, 0]] & ~run.is_video[t[:, 2]]
    return [run.relations[i] for i in torch.unique(t[mask, 1]).tolist()]


def select_videos(run: LoadedRun, video_ids: tuple[str, ...] | None) -> list[str]:
    """The given video ids, checked against the run; none given: every video of the run."""
    if not video_ids:
        return [e for e, v in zip(run.entities, run.is_video.tolist()) if v]
    known = set(run.entities)
    missing = [v for v in video_ids if v not in known]
    if missing:
        raise BadInput(f"unknown video id(s) for run {run.run_id}: {', '.join(missing[:5])}"
                       + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    return list(video_ids)


def infer_run(store, run: LoadedRun, videos: list[str], relations: list[str] | None, k: int,
              candidates: str = DEFAULT_CANDIDATES) -> Inferred:
    """Top-k tags per (video, relation) with calibrated confidences; excludes tags the video already
    has (every triple now in the graph) and edges curators rejected. The calibration fitted at
    training time is used when it was fitted for these candidates; otherwise one is fitted now."""
    relations = list(relations) if relations else tag_relations(run)
    unknown = [r for r in relations if r not in run.relations]
    if unknown:
        raise BadInput(f"unknown relation(s) for run {run.run_id}: {', '.join(unknown)}")
    current = remap(read_graph(store), run.entities, run.relations)
    exclude = torch.cat([run.known, current, known_negatives(store, run.entities, run.relations)])
    scope = ranking_scope(candidates, run.is_video, run.train, run.model.num_entities, run.model.num_relations)
    stored = run.meta.get("calibration")
    if stored and stored.get("candidates") == candidates:
        report = stored
    elif len(run.valid):
        note(f"fitting confidences for --candidates {candidates} on the run's validation split")
        report = calibrate(run.model, run.is_video, run.train, run.valid, run.test, candidates, run.meta["seed"])
    else:
        note("no validation triples in this run: confidences use temperature 1 (uncalibrated)")
        report = {**Calibrator().report(), "candidates": candidates}
    calibrator = Calibrator.from_report(report)
    ent, rel = run.entity_index, run.relation_index
    q_videos = [v for r in relations for v in videos]
    q_rels = [r for r in relations for _ in videos]
    heads = torch.tensor([ent[v] for v in q_videos], dtype=torch.long)
    rels = torch.tensor([rel[r] for r in q_rels], dtype=torch.long)
    warn_rangeless(candidates, run.train, rels, run.relations)
    pred = predict(run.model, heads, rels, k, calibrator, exclude=exclude, **scope)
    return Inferred(q_videos, q_rels, pred.tails, pred.scores, pred.confidence, pred.rank, report)


def write_inferred(store, run: LoadedRun, inferred: Inferred) -> int:
    """Store the INFERRED edges and the inferred videos' modality attention; returns the edge count."""
    live = inferred.tails >= 0
    q_idx, col = torch.nonzero(live, as_tuple=True)
    q_idx_l = q_idx.tolist()
    write_edges(
        store, run.run_id,
        [inferred.videos[i] for i in q_idx_l],
        [inferred.relations[i] for i in q_idx_l],
        [run.entities[t] for t in inferred.tails[live].tolist()],
        inferred.scores[live].numpy(), inferred.confidence[live].numpy(), inferred.rank[live].numpy(),
    )
    videos = sorted(set(inferred.videos))
    if len(run.model.segment_names) > 1:
        names, weights = modality_attention(run.model, torch.tensor([run.entity_index[v] for v in videos]))
        write_modality_attention(store, run.run_id, videos, names, weights.numpy())
    return int(live.sum())
