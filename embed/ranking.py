"""Link-prediction evaluation: MR, MRR, Hits@k, raw and filtered (TransFusion section 5.1).

The paper ranks tags for (h, r, ?) (tail prediction, section 4.4 lines 15-18 of Algorithm 1);
(?, r, t) is optional ("both sides", the protocol most other papers use).

Choices the paper leaves open, written down here and in docs/method.md:

* Ties are ranked realistically: rank = mean of the optimistic rank (1 + #strictly better) and the
  pessimistic rank (1 + #better + #equal), i.e. ``1 + better + equal / 2``. A model that scores every
  candidate alike gets the middle rank, not rank 1.
* Filtered rank: every other candidate that forms a known triple (``filter_triples``, normally
  train + valid + test) is removed from the count; the test triple itself never counts against itself.
* Candidates: all entities, a fixed id list (e.g. every tag), or ``"relation"`` (type-constrained, as
  OpenKE's ``type_constrain`` and PyKEEN's filtered type-constrained evaluation: the entities seen as
  tails (heads for head prediction) of the query's relation in ``constraint_triples``). A true answer
  that is not itself a candidate is still ranked among the candidates as if inserted. The query's
  own head (tail) is never a candidate.
* Hits@k is ``rank <= k`` on the realistic (possibly half-integer) rank; the answer's score is read
  from the same score row it is compared with, so exact ties count as ties.

Memory stays bounded: a batch's score matrix holds at most ``SCORE_BUDGET`` entries (fewer queries
per batch when there are many candidates), scored in chunks of ``chunk`` candidates. Known triples are
found with sorted int64 keys and ``searchsorted`` (never a dense entity x entity mask).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

HITS_AT = (1, 3, 10)
SIDES = ("tail", "head")
#: score-matrix elements held at once while ranking or inferring (fewer queries per batch for many candidates)
SCORE_BUDGET = 1 << 24


@runtime_checkable
class Scorer(Protocol):
    """What ranking (`evaluate`), inference (`topk`) and calibration ask of a model: PyKEEN's split of
    the interaction from what produces the vectors, seen from outside. `KGModel` (eq. 6's f_r of the
    fused vectors), the chance level's `chance.RandomScores` and the tests' table of scores implement
    it. Higher scores are better; an optional `cached_entities()` context computes the fused table once.
    """

    num_entities: int
    num_relations: int

    def score_triples(self, h: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """FloatTensor[B]: the score of each (h, r, t)."""

    def score_tails(self, h: torch.Tensor, r: torch.Tensor, candidates: torch.Tensor | None = None) -> torch.Tensor:
        """FloatTensor[B, C]: (h, r, ?) against every candidate tail (all entities when None)."""

    def score_heads(self, r: torch.Tensor, t: torch.Tensor, candidates: torch.Tensor | None = None) -> torch.Tensor:
        """FloatTensor[B, C]: (?, r, t) against every candidate head (all entities when None)."""


# --------------------------------------------------------------------------------------- utilities
def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a parameterless module)."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


def scoring_context(model: torch.nn.Module):
    """``model.cached_entities()`` when the model has it (fused table computed once), else a no-op."""
    cached = getattr(model, "cached_entities", None)
    return cached() if callable(cached) else contextlib.nullcontext()


def score_chunk(model, side: str, anchor: torch.Tensor, rel: torch.Tensor, cand: torch.Tensor | None):
    """Scores ``[B, C]`` of the chunk's candidates: tails for (h, r, ?) or heads for (?, r, t)."""
    if side == "tail":
        return model.score_tails(anchor, rel, cand)
    return model.score_heads(rel, anchor, cand)


def candidate_scores(model, side: str, anchor: torch.Tensor, rel: torch.Tensor, cand: torch.Tensor, chunk: int):
    """Scores ``[B, C]`` of every candidate for each query, scored ``chunk`` candidates at a time: the
    one candidate scan that ranking (``rank_side``) and inference (``infer.scan_tails``) share."""
    if len(cand) == 0:
        return torch.empty(len(anchor), 0, device=anchor.device)
    return torch.cat([score_chunk(model, side, anchor, rel, cand[c0 : c0 + chunk]).float()
                      for c0 in range(0, len(cand), chunk)], 1)


def queries_per_batch(batch_size: int, num_candidates: int) -> int:
    """``batch_size``, lowered so that one batch's score rows hold at most ``SCORE_BUDGET`` entries."""
    return max(1, min(batch_size, SCORE_BUDGET // max(num_candidates, 1)))


def _as_triples(triples, name: str) -> torch.Tensor:
    triples = torch.as_tensor(triples, dtype=torch.long)
    if triples.ndim != 2 or triples.shape[1] != 3:
        raise ValueError(f"{name} must be a [N, 3] tensor of (head, relation, tail) ids, got shape {tuple(triples.shape)}")
    return triples


@dataclass
class KnownIndex:
    """Known answers per query, as sorted int64 keys (query_key * E + answer).

    For tail prediction the query key is ``h * R + r`` and the answer is ``t``; for heads the query key
    is ``t * R + r`` and the answer is ``h``.
    """

    keys: torch.Tensor  # sorted unique int64 keys
    num_entities: int

    @classmethod
    def build(cls, triples: torch.Tensor, side: str, num_entities: int, num_relations: int):
        h, r, t = triples.unbind(1)
        query = (h if side == "tail" else t) * num_relations + r
        answer = t if side == "tail" else h
        keys = torch.unique(query * num_entities + answer)  # unique() sorts
        return cls(keys=keys, num_entities=num_entities)

    def answers(self, query_keys: torch.Tensor):
        """All (row, answer) pairs with ``row`` indexing ``query_keys``; vectorised CSR expansion."""
        lo = torch.searchsorted(self.keys, query_keys * self.num_entities)
        hi = torch.searchsorted(self.keys, (query_keys + 1) * self.num_entities)
        counts = hi - lo
        rows = torch.repeat_interleave(torch.arange(len(query_keys), device=counts.device), counts)
        starts = torch.repeat_interleave(lo - torch.cumsum(counts, 0) + counts, counts)
        flat = torch.arange(len(rows), device=counts.device) + starts
        return rows, self.keys[flat] % self.num_entities


class ConstraintIndex:
    """Type constraint: the entities seen at the predicted side of each relation (its range, for tails).

    A relation with no observed range (no triple in ``triples``) allows ``fallback`` (entity ids,
    normally every tag) instead, or every entity when no fallback is given.
    """

    def __init__(self, triples: torch.Tensor, side: str, num_entities: int, num_relations: int, fallback=None):
        answer = triples[:, 2] if side == "tail" else triples[:, 0]
        self.allowed = torch.zeros(num_relations, num_entities, dtype=torch.bool, device=triples.device)
        self.allowed[triples[:, 1], answer] = True
        empty = ~self.allowed.any(1)  # relations without an observed range
        if fallback is None:
            self.allowed[empty] = True
        else:
            cols = torch.as_tensor(fallback, dtype=torch.long, device=triples.device)
            rows = torch.nonzero(empty).squeeze(1)
            self.allowed[rows[:, None], cols[None, :]] = True

    def to(self, device) -> "ConstraintIndex":
        self.allowed = self.allowed.to(device)
        return self

    def mask(self, relations: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """``[B, C]`` bool: relation ``relations[b]`` allows candidate ``ids[c]``. Gathered straight
        into [B, C] (not through a [B, E] copy of the rows, which costs O(entities) per batch)."""
        return self.allowed[relations[:, None], ids[None, :]]


# ------------------------------------------------------------------------------------------ ranking


@torch.no_grad()
def rank_side(
    model,
    test: torch.Tensor,
    side: str = "tail",
    filter_index: KnownIndex | None = None,
    constraint: ConstraintIndex | None = None,
    candidates: torch.Tensor | None = None,
    num_entities: int | None = None,
    num_relations: int | None = None,
    batch_size: int = 256,
    chunk: int = 16384,
    progress: Callable[[int], None] | None = None,
) -> dict[str, torch.Tensor]:
    """Realistic raw (and filtered, when ``filter_index`` is given) ranks of ``test``'s answers.

    Each batch's whole candidate row is scored (in chunks of ``chunk``) before counting, so the
    answer's score is read from the same row it is compared with (exact ties count as ties); a
    batch holds at most ``SCORE_BUDGET`` scores. The anchor itself is never a candidate.
    ``progress(n)`` is told each batch's query count once it is ranked.
    Returns ``{"raw": FloatTensor[N], "filtered": FloatTensor[N]}`` on the CPU.
    """
    device = model_device(model)
    test = test.to(device)
    E = num_entities
    if candidates is None and constraint is not None:
        # only entities in some relation's range can be counted: scoring the rest (every video, for
        # tail queries) would make evaluation grow with videos x test triples
        candidates = torch.nonzero(constraint.allowed.any(0)).squeeze(1)
    cand = torch.arange(E, device=device) if candidates is None else candidates.to(device)
    C = len(cand)
    positions_of = torch.full((E,), -1, dtype=torch.long, device=device)
    positions_of[cand] = torch.arange(C, device=device)
    batch_size = queries_per_batch(batch_size, C)

    out = {"raw": [], "filtered": []}
    for b0 in range(0, len(test), batch_size):
        batch = test[b0 : b0 + batch_size]
        h, r, t = batch.unbind(1)
        anchor, answer = (h, t) if side == "tail" else (t, h)
        B = len(batch)
        rows_b = torch.arange(B, device=device)
        scores = candidate_scores(model, side, anchor, r, cand, chunk)
        target_pos = positions_of[answer]
        hit = target_pos >= 0
        true_score = torch.empty(B, device=device)
        true_score[hit] = scores[rows_b[hit], target_pos[hit]]
        if not bool(hit.all()):  # an answer outside the candidate list is ranked as if inserted
            miss = ~hit
            true_score[miss] = model.score_triples(h[miss], r[miss], t[miss]).float()
        valid = torch.ones_like(scores, dtype=torch.bool)
        valid[rows_b[hit], target_pos[hit]] = False  # the answer never counts against itself
        own = positions_of[anchor]
        valid[rows_b[own >= 0], own[own >= 0]] = False  # nor does the anchor
        if constraint is not None:
            valid &= constraint.mask(r, cand)
        better = (scores > true_score[:, None]) & valid
        equal = (scores == true_score[:, None]) & valid
        nb, ne = better.sum(1).float(), equal.sum(1).float()
        out["raw"].append((1 + nb + ne / 2).cpu())
        if filter_index is not None:
            k_rows, k_ent = filter_index.answers(anchor * num_relations + r)
            k_pos = positions_of[k_ent]
            keep = (k_pos >= 0) & (k_ent != answer[k_rows])
            kr, kc = k_rows[keep], k_pos[keep]
            # known answers that were counted as better / equal are taken back out
            nb = nb - torch.bincount(kr[better[kr, kc]], minlength=B)
            ne = ne - torch.bincount(kr[equal[kr, kc]], minlength=B)
            out["filtered"].append((1 + nb + ne / 2).cpu())
        if progress:
            progress(B)
    result = {key: torch.cat(v) if v else torch.zeros(0) for key, v in out.items()}
    if filter_index is None:
        result.pop("filtered")
    return result


def metrics_from_ranks(ranks: torch.Tensor, hits_at=HITS_AT) -> dict[str, float]:
    """MR, MRR and Hits@k of a rank vector (``count`` = number of ranks)."""
    ranks = ranks.double()
    if len(ranks) == 0:
        return {"mr": float("nan"), "mrr": float("nan"), **{f"hits{k}": float("nan") for k in hits_at}, "count": 0}
    result = {"mr": ranks.mean().item(), "mrr": (1.0 / ranks).mean().item()}
    for k in hits_at:
        result[f"hits{k}"] = (ranks <= k).double().mean().item()
    result["count"] = len(ranks)
    return result


def _num_entities(model, arrays) -> int:
    n = getattr(model, "num_entities", None)
    if n is not None:
        return int(n)
    return int(max(int(a[:, [0, 2]].max()) for a in arrays if len(a)) + 1)


def _num_relations(model, arrays) -> int:
    n = getattr(model, "num_relations", None)
    if n is not None:
        return int(n)
    return int(max(int(a[:, 1].max()) for a in arrays if len(a)) + 1)


def evaluate(
    model: Scorer,
    test,
    filter_triples=None,
    sides=("tail",),
    candidates=None,
    batch_size: int = 256,
    chunk: int = 16384,
    constraint_triples=None,
    per_relation: bool = False,
    relation_names: list[str] | None = None,
    num_entities: int | None = None,
    num_relations: int | None = None,
    return_ranks: bool = False,
    range_fallback=None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Evaluate link prediction on ``test`` (LongTensor[N, 3] of (h, r, t) ids).

    Args:
        filter_triples: known triples (train + valid + test) for the filtered setting; None = raw only.
        sides: ``("tail",)`` (the paper's protocol) or ``("tail", "head")``.
        candidates: None (all entities), a LongTensor of entity ids, or ``"relation"`` for the
            type-constrained setting (entities seen at that side of the relation in
            ``constraint_triples``, default ``filter_triples``); a relation with no observed range
            ranks ``range_fallback`` (entity ids, e.g. every tag) or, without it, all entities.
        batch_size, chunk: queries per batch and candidates per chunk (peak memory ~ a few
            ``batch_size * chunk`` floats plus what the model needs to score one chunk).
        per_relation: also report metrics per relation under ``"per_relation"``.
        progress: told the number of queries of each ranked batch (for a progress bar).

    Returns ``{"raw": {...}, "filtered": {...}, "tail": {...}, "head": {...}, "per_relation": {...}}``
    where each leaf has ``mr, mrr, hits1, hits3, hits10, count``; the top-level raw/filtered pool
    all requested sides.
    """
    test = _as_triples(test, "test")
    for side in sides:
        if side not in SIDES:
            raise ValueError(f"unknown side {side!r}; use 'tail' and/or 'head'")
    arrays = [test] + ([_as_triples(filter_triples, "filter_triples")] if filter_triples is not None else [])
    E = num_entities or _num_entities(model, arrays)
    R = num_relations or _num_relations(model, arrays)
    device = model_device(model)
    filt = None if filter_triples is None else _as_triples(filter_triples, "filter_triples").to(device)
    constrained = isinstance(candidates, str)
    if constrained and candidates != "relation":
        raise ValueError(f"candidates must be None, an id tensor or 'relation', got {candidates!r}")
    if constrained:
        cons = constraint_triples if constraint_triples is not None else filter_triples
        if cons is None:
            raise ValueError("type-constrained candidates need constraint_triples (or filter_triples)")
        cons = _as_triples(cons, "constraint_triples").to(device)
    cand = None if (candidates is None or constrained) else torch.as_tensor(candidates, dtype=torch.long)

    was_training = model.training
    model.eval()
    ranks: dict[str, dict[str, torch.Tensor]] = {}
    try:
        with torch.no_grad(), scoring_context(model):
            for side in sides:
                ranks[side] = rank_side(
                    model,
                    test,
                    side,
                    filter_index=None if filt is None else KnownIndex.build(filt, side, E, R),
                    constraint=ConstraintIndex(cons, side, E, R, range_fallback) if constrained else None,
                    candidates=cand,
                    num_entities=E,
                    num_relations=R,
                    batch_size=batch_size,
                    chunk=chunk,
                    progress=progress,
                )
    finally:
        model.train(was_training)

    settings = ["raw"] + (["filtered"] if filt is not None else [])
    result: dict = {}
    for setting in settings:
        result[setting] = metrics_from_ranks(torch.cat([ranks[s][setting] for s in sides]))
    for side in sides:
        result[side] = {setting: metrics_from_ranks(ranks[side][setting]) for setting in settings}
    if per_relation:
        rel = torch.cat([test[:, 1]] * len(sides))
        result["per_relation"] = {}
        for rid in torch.unique(rel).tolist():
            name = relation_names[rid] if relation_names is not None else rid
            sel = rel == rid
            result["per_relation"][name] = {
                setting: metrics_from_ranks(torch.cat([ranks[s][setting] for s in sides])[sel]) for setting in settings
            }
    if return_ranks:
        result["ranks"] = ranks
    return result

