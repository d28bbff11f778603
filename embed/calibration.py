"""Calibrated confidence of an inferred edge, and how reliable it is.

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

import torch

from .ranking import ConstraintIndex, scoring_context
from .topk import log_partition, top_k, top_k_and_log_partition


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
