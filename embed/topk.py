"""Tag inference: top-k tails and the attention weights that explain them.

Inference is link prediction (TransFusion section 4.4, Algorithm 1 lines 15-18): for a (video,
relation) pair, rank the candidate tails by the model's score and keep the best k, leaving out
triples that are already known. `predict` adds each edge's calibrated confidence
(`calibration.Calibrator`, fitted on validation triples).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, NamedTuple

import torch

from .ranking import (SCORE_BUDGET, ConstraintIndex, KnownIndex, candidate_scores, model_device,
                       queries_per_batch, scoring_context)

if TYPE_CHECKING:
    from .calibration import Calibrator

NEG_INF = float("-inf")


def _ids(x, device) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.long).reshape(-1).to(device)


def _exclude_index(model, exclude, device) -> KnownIndex | None:
    if exclude is None:
        return None
    exclude = torch.as_tensor(exclude, dtype=torch.long).to(device)
    return KnownIndex.build(exclude, "tail", model.num_entities, model.num_relations)


def _positions(model, candidates, device):
    E = model.num_entities
    if candidates is None:
        return None, E, torch.arange(E, device=device)
    cand = _ids(candidates, device)
    pos = torch.full((E,), -1, dtype=torch.long, device=device)
    pos[cand] = torch.arange(len(cand), device=device)
    return cand, len(cand), pos


def scan_tails(
    model, heads, relations, exclude=None, candidates=None, batch_size: int = 512, chunk: int = 16384,
    constraint: ConstraintIndex | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield ``(rows, ids, scores)`` for each batch of queries: ``rows`` their positions in
    ``heads``/``relations``, ``ids`` the candidates and ``scores`` ``FloatTensor[len(rows), len(ids)]``
    (``evaluate.candidate_scores``), -inf where a candidate may not answer: a known triple
    (``exclude``) or the head itself. With ``constraint`` the queries go relation by relation, each
    among the candidates in its relation's range only (the same ranking as masking the others out,
    without scoring them). A batch holds at most ``evaluate.SCORE_BUDGET`` scores.
    """
    device = model_device(model)
    heads, relations = _ids(heads, device), _ids(relations, device)
    if len(heads) != len(relations):
        raise ValueError(f"heads and relations differ in length ({len(heads)} vs {len(relations)})")
    index = _exclude_index(model, exclude, device)
    cand, _, _ = _positions(model, candidates, device)
    cand = torch.arange(model.num_entities, device=device) if cand is None else cand
    if constraint is None:
        groups = [(torch.arange(len(heads), device=device), cand)]
    else:
        allowed = constraint.to(device).allowed
        groups = [(torch.nonzero(relations == r).squeeze(1), cand[allowed[r, cand]])
                  for r in torch.unique(relations).tolist()]
    for rows_r, cand_r in groups:
        _, C, positions_of = _positions(model, cand_r, device)
        step = queries_per_batch(batch_size, C)
        for b0 in range(0, len(rows_r), step):
            rows = rows_r[b0 : b0 + step]
            h, r = heads[rows], relations[rows]
            scores = candidate_scores(model, "tail", h, r, cand_r, chunk)
            if index is not None:
                k_rows, k_ent = index.answers(h * model.num_relations + r)
                k_pos = positions_of[k_ent]
                keep = k_pos >= 0
                scores[k_rows[keep], k_pos[keep]] = NEG_INF
            scores.masked_fill_(cand_r[None, :] == h[:, None], NEG_INF)
            yield rows, cand_r, scores


@torch.no_grad()
def top_k(model, heads, relations, k: int, exclude=None, candidates=None, batch_size: int = 512, chunk: int = 16384,
          constraint: ConstraintIndex | None = None):
    """The ``k`` best tails for each (head, relation) pair.

    Args:
        heads, relations: LongTensor[B] of entity / relation ids.
        exclude: LongTensor[N, 3] of known triples never to return (e.g. the training graph).
        candidates: LongTensor[C] of allowed tail ids (None = all entities).
        constraint: per relation, the tails allowed (its range); see ``evaluate.ConstraintIndex``.

    Returns ``(tails LongTensor[B, k], scores FloatTensor[B, k])``, best first, on the CPU. Where fewer
    than ``k`` candidates are left the row is padded with tail -1 and score -inf.
    """
    tails, scores, _ = _top_k_scan(model, heads, relations, k, None, exclude, candidates, batch_size, chunk, constraint)
    return tails, scores


@torch.no_grad()
def top_k_and_log_partition(model, heads, relations, k: int, temperatures, exclude=None, candidates=None,
                            batch_size: int = 512, chunk: int = 16384, constraint: ConstraintIndex | None = None):
    """``top_k``'s ``(tails, scores)`` and ``log_partition`` at one temperature per row
    (``temperatures`` FloatTensor[B]) as DoubleTensor[B], from one scan of the candidates."""
    return _top_k_scan(model, heads, relations, k, temperatures, exclude, candidates, batch_size, chunk, constraint)


def _top_k_scan(model, heads, relations, k, temperatures, exclude, candidates, batch_size, chunk, constraint):
    device = model_device(model)
    B = len(_ids(heads, device))
    best_s = torch.full((B, k), NEG_INF, device=device)
    best_t = torch.full((B, k), -1, dtype=torch.long, device=device)
    lse = temps = None
    if temperatures is not None:
        temps = torch.as_tensor(temperatures, dtype=torch.float64, device=device).reshape(B)
        lse = torch.full((B,), NEG_INF, dtype=torch.float64, device=device)
    with scoring_context(model):
        for rows, ids, scores in scan_tails(model, heads, relations, exclude, candidates, batch_size, chunk, constraint):
            kk = min(k, scores.shape[1])
            s, j = scores.topk(kk, dim=1)
            merged_s = torch.cat([best_s[rows], s], 1)
            merged_t = torch.cat([best_t[rows], ids[j]], 1)
            top_s, top_j = merged_s.topk(k, dim=1)
            best_s[rows], best_t[rows] = top_s, merged_t.gather(1, top_j)
            if lse is not None:
                lse[rows] = torch.logaddexp(lse[rows], torch.logsumexp(scores.double() / temps[rows, None], dim=1))
    best_t[best_s == NEG_INF] = -1
    return best_t.cpu(), best_s.cpu(), None if lse is None else lse.cpu()


@torch.no_grad()
def log_partition(model, heads, relations, temperatures, exclude=None, candidates=None, batch_size=512, chunk=16384,
                  constraint: ConstraintIndex | None = None):
    """``log sum_c exp(s_c / T)`` over the (non-excluded) candidates: FloatTensor[B, n].

    ``temperatures`` is ``[n]`` (the same grid for every row) or ``[B, n]`` (a grid per row).
    """
    device = model_device(model)
    B = len(_ids(heads, device))
    temps = torch.as_tensor(temperatures, dtype=torch.float64, device=device)
    temps = temps.reshape(1, -1).expand(B, -1) if temps.ndim <= 1 else temps
    lse = torch.full(temps.shape, NEG_INF, dtype=torch.float64, device=device)
    with scoring_context(model):
        for rows, _ids_, scores in scan_tails(model, heads, relations, exclude, candidates, batch_size, chunk, constraint):
            s, t = scores.double(), temps[rows]
            per = max(1, SCORE_BUDGET // max(s.numel(), 1))  # temperatures per pass: [B, C, per] stays bounded
            part = torch.cat([torch.logsumexp(s[:, :, None] / t[:, None, j : j + per], dim=1)
                              for j in range(0, t.shape[1], per)], 1)
            lse[rows] = torch.logaddexp(lse[rows], part)
    return lse.cpu()


class Predictions(NamedTuple):
    tails: torch.Tensor  # LongTensor[B, k], -1 = padding
    scores: torch.Tensor  # FloatTensor[B, k]
    confidence: torch.Tensor  # FloatTensor[B, k] in [0, 1]
    rank: torch.Tensor  # LongTensor[B, k], 1-based


@torch.no_grad()
def predict(model, heads, relations, k: int, calibrator: Calibrator, exclude=None, candidates=None, batch_size=512,
            chunk=16384, constraint: ConstraintIndex | None = None):
    """Top-k tails with scores, calibrated confidences and ranks (what the CLI writes as INFERRED edges)."""
    tails, scores, log_z = top_k_and_log_partition(model, heads, relations, k, calibrator.temperatures_for(relations),
                                                   exclude, candidates, batch_size, chunk, constraint)
    conf = calibrator.confidence(scores, log_z, relations=relations)
    conf[tails < 0] = 0.0
    rank = torch.arange(1, k + 1).expand(tails.shape).clone()
    # on the CPU: what callers do next is write them out (Neo4j, tables)
    return Predictions(tails.cpu(), scores.float().cpu(), conf.float().cpu(), rank)


@torch.no_grad()
def top1_in_range(model, train, is_video, candidates, max_videos: int = 500, seed: int = 0) -> float:
    """Share of (video, relation) pairs whose best-scored candidate lies in the relation's range.

    Pairs: up to ``max_videos`` videos (a seeded sample) x every relation that links videos to
    non-videos in ``train``; the range of r = the tails seen with r in ``train``; ``candidates`` =
    the entity ids ranked (normally every non-video entity; never the head itself). A model that
    answers every relation with the same tags scores about (range size / candidates); one that
    separates relations, 1.
    """
    train = torch.as_tensor(train, dtype=torch.long)
    video_rel = torch.unique(train[is_video[train[:, 0]] & ~is_video[train[:, 2]], 1])
    videos = torch.nonzero(is_video).squeeze(1)
    videos = videos[torch.randperm(len(videos), generator=torch.Generator().manual_seed(seed))[:max_videos]]
    if len(videos) == 0 or len(video_rel) == 0:
        return float("nan")
    heads, rels = videos.repeat(len(video_rel)), video_rel.repeat_interleave(len(videos))
    was_training = model.training
    model.eval()
    try:
        best, _ = top_k(model, heads, rels, 1, candidates=candidates)
    finally:
        model.train(was_training)
    in_range = ConstraintIndex(train, "tail", model.num_entities, model.num_relations).allowed.cpu()
    top = best[:, 0]
    return ((top >= 0) & in_range[rels, top.clamp_min(0)]).float().mean().item()


# ------------------------------------------------------------------------------------- attention
@torch.no_grad()
def modality_attention(model, entity_ids, relations=None, batch_size: int = 8192) -> tuple[list[str], torch.Tensor]:
    """Each entity's modality attention p (eq. 3-4): ``(segment_names, FloatTensor[B, S])`` on the CPU.

    ``relations`` [B] (relation ids, one per entity id): with relation-conditioned attention, the
    weights p_{v,r} that h_{vid,r} used for that pair (``EntityRepresentation.weights``)."""
    device = model_device(model)
    ids = _ids(entity_ids, device)
    rels = None if relations is None else _ids(relations, device)
    if rels is not None and len(rels) != len(ids):
        raise ValueError(f"entity ids and relations differ in length ({len(ids)} vs {len(rels)})")
    model.eval()
    parts = [model.modality_attention(ids[i : i + batch_size], None if rels is None else rels[i : i + batch_size])
             .float().cpu() for i in range(0, len(ids), batch_size)]
    S = len(model.segment_names)
    return list(model.segment_names), torch.cat(parts) if parts else torch.zeros(0, S)


@torch.no_grad()
def relation_attention(model) -> torch.Tensor:
    """Each relation's attention q_r (eq. 5; ones when relation attention is off): FloatTensor[R]."""
    model.eval()
    return model.relation_attention().float().cpu()


def top_relations(model, relation_names: list[str], n: int = 5) -> list[tuple[str, float]]:
    """The ``n`` relations with the highest attention (paper Table 7)."""
    q = relation_attention(model)
    order = torch.argsort(q, descending=True)[:n]
    return [(relation_names[i], float(q[i])) for i in order.tolist()]
