"""Tag inference: top-k tails, calibrated confidences and the attention weights that explain them.

Inference is link prediction (TransFusion section 4.4, Algorithm 1 lines 15-18): for a (video,
relation) pair, rank the candidate tails by the model's score and keep the best k, leaving out
triples that are already known.

Confidence (a choice the paper leaves open): a temperature-scaled softmax over the candidate set,
``p(t | h, r) = exp(s_t / T_r) / sum_c exp(s_c / T_r)`` with known triples left out of the sum.
``T_r`` (one per relation with enough validation triples, a shared one for the rest) is fitted on
half of the validation queries by minimising the binary log-loss of each top-k edge's confidence
against whether the edge is right (a 1-D search on log T, two grid passes). The reliability is
measured on the other half: the expected calibration error (ECE, 15 equal-width bins) of the top-1
prediction per query, and over all top-k edges (``ece_topk``), which is what a curator sorting edges
by confidence sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator, NamedTuple

import torch

from .ranking import (SCORE_BUDGET, ConstraintIndex, KnownIndex, candidate_scores, model_device,
                       queries_per_batch, scoring_context)

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


def _bin_of(confidence: torch.Tensor, bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(bin edges [bins + 1], each confidence's equal-width bin): the binning every ECE here uses."""
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64)
    return edges, torch.bucketize(confidence.clamp(0, 1), edges[1:-1], right=True)


def expected_calibration_error(confidence: torch.Tensor, correct: torch.Tensor, bins: int = 15):
    """ECE with equal-width bins, plus the reliability table ``[(lo, hi, count, mean_conf, accuracy)]``."""
    confidence, correct = confidence.double().reshape(-1), correct.double().reshape(-1)
    edges, which = _bin_of(confidence, bins)
    table, ece = [], 0.0
    for b in range(bins):
        sel = which == b
        n = int(sel.sum())
        if n == 0:
            continue
        conf, acc = confidence[sel].mean().item(), correct[sel].mean().item()
        ece += n / len(confidence) * abs(conf - acc)
        table.append((edges[b].item(), edges[b + 1].item(), n, conf, acc))
    return ece, table


def ece_noise_floor(confidence: torch.Tensor, bins: int = 15, draws: int = 200, seed: int = 0) -> float:
    """Mean ECE of a perfectly calibrated predictor with these confidences (outcomes drawn as
    Bernoulli(confidence)): what sampling noise alone makes the ECE of this many queries read."""
    confidence = confidence.double().reshape(-1).clamp(0, 1)
    if len(confidence) == 0:
        return float("nan")
    g = torch.Generator().manual_seed(seed)
    _, which = _bin_of(confidence, bins)
    outcomes = (torch.rand(draws, len(confidence), generator=g, dtype=torch.float64) < confidence).double()
    conf_sum = torch.bincount(which, weights=confidence, minlength=bins)
    hit_sum = torch.zeros(draws, bins, dtype=torch.float64).index_add_(1, which, outcomes)
    return float((hit_sum - conf_sum).abs().sum(1).mean() / len(confidence))


MIN_CONFIDENCE_GRID = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3)


def kept_by_threshold(confidence: torch.Tensor, correct: torch.Tensor, grid=MIN_CONFIDENCE_GRID) -> list[list[float]]:
    """Per minimum confidence m: [m, share of the right edges kept, share of all edges kept, precision of
    the kept edges] over top-k edges (what `kgtag infer --min-confidence m` would keep of them)."""
    confidence, correct = confidence.double().reshape(-1), correct.double().reshape(-1)
    rows = []
    for m in grid:
        keep = confidence >= m
        rows.append([m, float(correct[keep].sum() / correct.sum().clamp_min(1)), float(keep.double().mean()),
                     float(correct[keep].mean()) if bool(keep.any()) else float("nan")])
    return rows


@dataclass
class Calibrator:
    """Temperature-scaled softmax over the candidate set, fitted on validation triples.

    One temperature per relation (relations differ in how many tails are plausible, so one shared
    ``T`` is badly calibrated across them), fitted where a relation has at least ``min_triples``
    validation triples; the shared ``temperature`` covers the others.

    ``confidence(scores, relations=r)`` takes full candidate rows ``[B, C]`` (excluded entries at
    -inf); ``confidence(scores, log_z, relations=r)`` takes a few scores per row with their row's
    ``log_partition`` at ``temperatures_for(r)`` (what ``predict`` uses). Attributes after ``fit``:
    ``temperature``, ``relation_temperature``, ``log_loss`` (per top-k edge of the fitting half), and, measured on
    held-out validation queries that the fit did not see: ``ece`` (top-1), ``ece_topk`` (all top-k
    edges), ``ece_floor`` (what sampling noise alone reads on that many queries, see
    ``ece_noise_floor``), ``top1_accuracy``, ``reliability`` (the top-1 reliability table),
    ``held_out`` (queries), ``kept`` (``kept_by_threshold`` of the top-k edges: what each minimum
    confidence keeps).
    """

    temperature: float = 1.0
    relation_temperature: dict = field(default_factory=dict)
    log_loss: float = float("nan")
    ece: float = float("nan")
    ece_topk: float = float("nan")
    ece_floor: float = float("nan")
    top1_accuracy: float = float("nan")
    held_out: int = 0
    reliability: list = field(default_factory=list)
    kept: list = field(default_factory=list)

    def temperatures_for(self, relations) -> torch.Tensor:
        """FloatTensor[B] (float64): each row's temperature."""
        rel = torch.as_tensor(relations, dtype=torch.long).reshape(-1).tolist()
        return torch.tensor([self.relation_temperature.get(r, self.temperature) for r in rel], dtype=torch.float64)

    def confidence(self, scores: torch.Tensor, log_z: torch.Tensor | None = None, relations=None) -> torch.Tensor:
        scores = torch.as_tensor(scores).double()
        if relations is None:
            temps = torch.full((scores.shape[0],) if scores.ndim > 1 else (1,), self.temperature, dtype=torch.float64)
        else:
            temps = self.temperatures_for(relations)
        temps = temps.reshape(-1, *([1] * (scores.ndim - 1)))
        if log_z is None:
            return torch.softmax(scores / temps, dim=-1).float()
        log_z = torch.as_tensor(log_z, dtype=torch.float64).reshape(-1, *([1] * (scores.ndim - 1)))
        return torch.exp(scores / temps - log_z).clamp(0, 1).float()

    @torch.no_grad()
    def fit(
        self,
        model,
        valid,
        exclude=None,
        candidates=None,
        constraint: ConstraintIndex | None = None,
        k: int = 10,
        max_queries: int = 4000,
        min_triples: int = 20,
        holdout: float = 0.5,
        seed: int = 0,
        batch_size: int = 512,
        chunk: int = 16384,
    ) -> "Calibrator":
        """Fit the temperatures on part of ``valid`` (LongTensor[N, 3]); report reliability on the rest.

        ``exclude``, ``candidates`` and ``constraint`` must be what ``predict`` will use, so that the
        softmax is over the same candidates. The validation answers themselves stay candidates.
        At most ``max_queries`` distinct (head, relation) queries are used (a seeded sample); a share
        ``holdout`` of them is held out of the fit and measured (ECE), the rest fit the temperatures.
        The objective is the binary log-loss of each top-k edge's confidence against whether the edge
        is right (see ``_fit_temperatures``). Two passes over the candidates: a coarse grid over 8
        decades (shared by all rows), then a fine grid around each group's coarse optimum (group =
        relation, or "shared").
        """
        valid = torch.as_tensor(valid, dtype=torch.long)
        if valid.ndim != 2 or valid.shape[1] != 3 or len(valid) == 0:
            raise ValueError("valid must be a non-empty [N, 3] tensor of (head, relation, tail) ids")
        R, E = model.num_relations, model.num_entities
        qkey = valid[:, 0] * R + valid[:, 1]
        queries, inverse = torch.unique(qkey, return_inverse=True)
        g = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(queries), generator=g)[:max_queries]
        held = torch.zeros(len(queries), dtype=torch.bool)
        fitting = torch.zeros(len(queries), dtype=torch.bool)
        n_held = int(len(order) * holdout) if len(order) >= 2 else 0
        held[order[:n_held]] = True
        fitting[order[n_held:]] = True
        if exclude is not None:
            exclude = torch.as_tensor(exclude, dtype=torch.long)
            vkeys = torch.unique(qkey * E + valid[:, 2])
            ekeys = (exclude[:, 0] * R + exclude[:, 1]) * E + exclude[:, 2]
            exclude = exclude[~torch.isin(ekeys, vkeys)]
        scan = dict(exclude=exclude, candidates=candidates, batch_size=batch_size, chunk=chunk, constraint=constraint)
        was_training = model.training
        model.eval()
        try:
            with scoring_context(model):
                self._fit_temperatures(model, valid[fitting[inverse]], min_triples, k, scan)
                self.held_out = n_held
                self._measure(model, valid[(held if n_held else fitting)[inverse]], k, scan)
        finally:
            model.train(was_training)
        return self

    def _fit_temperatures(self, model, valid: torch.Tensor, min_triples: int, k: int, scan: dict) -> None:
        """Per group (relation, or the shared rest), the T whose confidences best predict which of the
        top-k edges are right: binary log-loss of (confidence, correct) over every top-k edge.

        Confidence is what INFERRED edges carry and what curators sort by, and a (video, r) pair may
        have several right answers, so the fit targets edge correctness, not the likelihood of one
        held-out tail (which splits the mass among the right answers and leaves top-1 underconfident).
        """
        R, E = model.num_relations, model.num_entities
        qkey = valid[:, 0] * R + valid[:, 1]
        queries = torch.unique(qkey)
        qh, qr = queries // R, queries % R
        tails, scores = top_k(model, qh, qr, k, **scan)
        truth = torch.unique(qkey * E + valid[:, 2])
        correct = (torch.isin(queries[:, None] * E + tails, truth) & (tails >= 0)).double()
        live = (tails >= 0).double()
        scores = scores.double().nan_to_num(neginf=0.0)
        counts = torch.bincount(valid[:, 1], minlength=R)
        group = torch.where(counts[qr] >= min_triples, qr, torch.full_like(qr, -1))
        spread = float(scores[live.bool()].std()) if int(live.sum()) > 1 else 1.0
        spread = spread if math.isfinite(spread) and spread > 0 else 1.0

        def loss(grid: torch.Tensor) -> torch.Tensor:
            """Edge log-loss [Q, n] of each query at each of its n temperatures (grid [Q, n])."""
            lse = log_partition(model, qh, qr, grid, **scan)
            logp = (scores[:, :, None] / grid[:, None, :] - lse[:, None, :]).clamp(max=0.0)
            p = logp.exp().clamp(1e-12, 1 - 1e-12)
            bce = -(correct[:, :, None] * p.log() + (1 - correct[:, :, None]) * (1 - p).log())
            return (bce * live[:, :, None]).sum(1)

        coarse = spread * torch.logspace(-4, 4, 33, dtype=torch.float64)
        total = loss(coarse.expand(len(queries), -1))
        groups = [-1] + sorted(set(group.tolist()) - {-1})
        centre = {}
        for gid in groups:
            rows = group == gid if gid != -1 else torch.ones(len(queries), dtype=torch.bool)
            centre[gid] = float(coarse[int(torch.argmin(total[rows].sum(0)))])
        # fine pass: each query's grid spans one coarse step either side of its group's optimum
        step = 10 ** (8 / 32)
        offsets = torch.logspace(-math.log10(step), math.log10(step), 21, dtype=torch.float64)
        row_grid = torch.tensor([centre[gid] for gid in group.tolist()], dtype=torch.float64)[:, None] * offsets
        total = loss(row_grid)
        self.relation_temperature = {
            gid: centre[gid] * float(offsets[int(torch.argmin(total[group == gid].sum(0)))]) for gid in groups[1:]
        }
        # the shared T serves relations with too few validation triples: fitted on every query
        shared = loss(centre[-1] * offsets.expand(len(queries), -1))
        self.temperature = centre[-1] * float(offsets[int(torch.argmin(shared.sum(0)))])
        fitted = loss(self.temperatures_for(qr)[:, None])
        self.log_loss = float(fitted.sum() / live.sum().clamp_min(1))

    def _measure(self, model, valid: torch.Tensor, k: int, scan: dict) -> None:
        R, E = model.num_relations, model.num_entities
        qkey = valid[:, 0] * R + valid[:, 1]
        queries = torch.unique(qkey)
        qh, qr = queries // R, queries % R
        tails, scores, log_z = top_k_and_log_partition(model, qh, qr, k, self.temperatures_for(qr), **scan)
        conf = self.confidence(scores, log_z, relations=qr)
        truth = torch.unique(qkey * E + valid[:, 2])
        correct = torch.isin((queries[:, None] * E + tails), truth) & (tails >= 0)
        self.ece, self.reliability = expected_calibration_error(conf[:, 0], correct[:, 0])
        self.ece_floor = ece_noise_floor(conf[:, 0])
        live = tails >= 0
        self.ece_topk, _ = expected_calibration_error(conf[live], correct[live])
        self.kept = kept_by_threshold(conf[live], correct[live])
        self.top1_accuracy = correct[:, 0].double().mean().item()

    def report(self) -> dict:
        return {
            "temperature": self.temperature,
            "relation_temperature": dict(self.relation_temperature),
            "log_loss": self.log_loss,
            "ece": self.ece,
            "ece_topk": self.ece_topk,
            "ece_floor": self.ece_floor,
            "top1_accuracy": self.top1_accuracy,
            "held_out": self.held_out,
            "kept": self.kept,
        }

    @classmethod
    def from_report(cls, report: dict) -> "Calibrator":
        """A calibrator from ``report()``'s dict (as stored with a run; JSON keys become strings)."""
        fields_ = {k: v for k, v in report.items() if k in cls.__dataclass_fields__}
        fields_["relation_temperature"] = {int(r): float(t) for r, t in report.get("relation_temperature", {}).items()}
        return cls(**fields_)


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
def modality_attention(model, entity_ids, batch_size: int = 8192) -> tuple[list[str], torch.Tensor]:
    """Each entity's modality attention p (eq. 3-4): ``(segment_names, FloatTensor[B, S])`` on the CPU."""
    device = model_device(model)
    ids = _ids(entity_ids, device)
    model.eval()
    parts = [model.modality_attention(ids[i : i + batch_size]).float().cpu() for i in range(0, len(ids), batch_size)]
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
