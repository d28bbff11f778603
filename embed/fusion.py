"""Entity representations: plain trainable embeddings, and TransFusion's fused video vector.

An entity is *fused* when it has at least one of the model's modalities (a video). Fused entities
are built from segments of width d_K (= `dim`):

  - the knowledge segment z_K: a trainable row (absent in Baseline3);
  - one segment per modality, z_M = ELU(e_M W_M + b_M) (eq. 1), with e_M the frozen pretrained
    feature (a buffer, never updated) and W_M, b_M trained.

How the segments combine depends on `mode`:

  - "attention" (TransFusion, Baseline3): p = softmax(a^T tanh(z V)) over the segments the video
    has (eq. 4; V, a shared across segments), h = [p_0 z_K, p_1 z_M1, ...] (eq. 3). A missing
    modality is masked out of the softmax (p = 0 exactly) and its segment is exactly zero.
  - "concat" (Baseline1): h = [z_K, z_M1, ...], missing modalities as zero segments.
  - "sum" (Baseline2): h = z_K + sum of the present z_M (width d_K).
  - "plain" (TransE, TransFusion-0): no segments, every entity is a trainable row.

Widths: h has width `width` = d_K * (number of segments) for attention/concat, d_K for sum/plain.
Entities that are not fused (tags, and videos with none of the modalities) get their own trainable
row of that same full width, so tags, videos and relations all live in one R^width space.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import Energy
from .rows import RowTable, renorm_, transe_bound, uniform_

MODES = ("plain", "attention", "concat", "sum")
_CHUNK = 65536


class EntityRepresentation(nn.Module):
    def __init__(
        self,
        num_entities: int,
        dim: int,
        hidden: int,
        mode: str,
        knowledge: bool,
        modalities: tuple[str, ...],
        features: dict[str, tuple[torch.Tensor, torch.Tensor]],
    ):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown fusion mode {mode!r}")
        self.num_entities, self.dim, self.mode, self.knowledge = num_entities, dim, mode, knowledge
        self.modalities = tuple(modalities) if mode != "plain" else ()
        segments = int(knowledge) + len(self.modalities)
        self.width = dim * segments if mode in ("attention", "concat") else dim
        self.segment_names = (["knowledge"] if knowledge else []) + list(self.modalities)

        present = torch.zeros(num_entities, len(self.modalities), dtype=torch.bool)
        for i, m in enumerate(self.modalities):
            feats, mask = _check_features(m, features, num_entities)
            present[:, i] = mask
        fused = present.any(1)
        local = torch.empty(num_entities, dtype=torch.long)
        local[fused] = torch.arange(int(fused.sum()))
        local[~fused] = torch.arange(int((~fused).sum()))
        self.register_buffer("fused", fused, persistent=False)
        self.register_buffer("local", local, persistent=False)
        self.num_fused = int(fused.sum())
        self.all_plain = self.num_fused == 0

        self.plain = RowTable(num_entities - self.num_fused, self.width)
        uniform_(self.plain.weight, transe_bound(self.width))
        if self.num_fused:
            # Frozen pretrained features and presence masks, rows of fused entities only.
            self.register_buffer("present", present[fused], persistent=False)
            for m in self.modalities:
                feats, mask = features[m]
                rows = feats[fused].to(torch.float32).clone()
                rows[~mask[fused]] = 0.0  # never read through the mask, but keep NaN out of the graph
                self.register_buffer(f"feat_{m}", rows, persistent=False)
            self.proj = nn.ModuleDict({m: nn.Linear(features[m][0].shape[1], dim) for m in self.modalities})
            if knowledge:
                self.z_k = RowTable(self.num_fused, dim)
                uniform_(self.z_k.weight, transe_bound(dim))
            if mode == "attention":
                self.energy = Energy(dim, hidden)

    # -- representation ------------------------------------------------------------------------
    def forward(self, ids: torch.Tensor, constrain: str | None = None) -> torch.Tensor:
        """Representations [n, width] of *unique* entity ids (training gathers each row once).

        constrain: "unit" | "max1" renormalises the trainable rows used first (Algorithm 1 line 7).
        """
        if self.all_plain:
            return self.plain.rows(ids, constrain)
        f = self.fused[ids]
        pi = (~f).nonzero().squeeze(1)
        fi = f.nonzero().squeeze(1)
        parts = []
        if pi.numel():
            parts.append(self.plain.rows(self.local[ids[pi]], constrain))
        if fi.numel():
            parts.append(self.fuse(self.local[ids[fi]], constrain))
        order = torch.cat([pi, fi])
        back = torch.empty_like(order)
        back[order] = torch.arange(order.shape[0], device=order.device)
        return torch.cat(parts)[back]

    def segments(self, v: torch.Tensor, constrain: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Segments z [n, S, d_K] (eq. 1) and presence mask [n, S] of fused rows v (local ids)."""
        zs, masks = [], []
        if self.knowledge:
            zs.append(self.z_k.rows(v, constrain))
            masks.append(torch.ones(v.shape[0], 1, dtype=torch.bool, device=v.device))
        for m in self.modalities:
            zs.append(F.elu(self.proj[m](getattr(self, f"feat_{m}")[v])))
        masks.append(self.present[v])
        return torch.stack(zs, 1), torch.cat(masks, 1)

    def weights(self, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Segment weights [n, S]: eq. 4 for attention (masked softmax), equal weights otherwise."""
        if self.mode == "attention":
            logits = self.energy(z).masked_fill(~mask, float("-inf"))
            return torch.softmax(logits, dim=1)
        w = mask.to(z.dtype)
        return w / w.sum(1, keepdim=True)

    def fuse(self, v: torch.Tensor, constrain: str | None = None) -> torch.Tensor:
        """h_vid [n, width] of fused rows v (local ids): eq. 3, or the baselines' concat / sum."""
        z, mask = self.segments(v, constrain)
        if self.mode == "attention":
            # A missing segment has p = 0 exactly (masked softmax) and a finite z (its feature row
            # is zeroed at build), so p * z is exactly zero there.
            return (self.weights(z, mask).unsqueeze(-1) * z).flatten(1)
        z = z * mask.unsqueeze(-1).to(z.dtype)
        return z.flatten(1) if self.mode == "concat" else z.sum(1)

    @torch.no_grad()
    def all(self) -> torch.Tensor:
        """Every entity's representation [E, width], computed in chunks without gradients."""
        if self.all_plain:
            return self.plain.all()
        ids = torch.arange(self.num_entities, device=self.fused.device)
        return torch.cat([self(ids[i : i + _CHUNK]) for i in range(0, self.num_entities, _CHUNK)])

    @torch.no_grad()
    def modality_attention(self, ids: torch.Tensor) -> torch.Tensor:
        """Weights [n, S] over `segment_names` for any entity ids.

        Fused entities: the p of eq. 4 (attention modes) or the equal weights that concatenation
        and summation imply. Entities that are not fused have no segments: their row is 1 on
        "knowledge" (their trainable embedding) and 0 elsewhere, or all zeros without a knowledge
        segment (Baseline3).
        """
        out = torch.zeros(ids.shape[0], len(self.segment_names), device=ids.device)
        if self.knowledge:
            out[:, 0] = 1.0
        if self.all_plain:
            return out
        f = self.fused[ids]
        if f.any():
            z, mask = self.segments(self.local[ids[f]])
            out[f] = self.weights(z, mask)
        return out

    # -- constraints (Algorithm 1 line 7) ------------------------------------------------------
    @torch.no_grad()
    def constrain_(self, ids: torch.Tensor, kind: str) -> None:
        """Renormalise the trainable rows behind entity ids: "unit" (norm 1) or "max1" (norm <= 1).

        Applies to plain rows and to knowledge segments z_K; projected modality segments are
        functions of frozen features, not rows, and are left as they are.
        """
        if self.all_plain:
            _renorm_rows_(self.plain.weight, ids, kind)
            return
        f = self.fused[ids]
        _renorm_rows_(self.plain.weight, self.local[ids[~f]], kind)
        if self.knowledge:
            _renorm_rows_(self.z_k.weight, self.local[ids[f]], kind)

    @torch.no_grad()
    def constrain_all_(self, kind: str) -> None:
        for t in [self.plain] + ([self.z_k] if self.knowledge and self.num_fused else []):
            _renorm_rows_(t.weight, torch.arange(t.num, device=t.weight.device), kind)


def _renorm_rows_(weight: torch.Tensor, idx: torch.Tensor, kind: str) -> None:
    if idx.numel() == 0:
        return
    weight.index_copy_(0, idx, renorm_(weight.index_select(0, idx), kind))


def _check_features(name: str, features: dict, num_entities: int) -> tuple[torch.Tensor, torch.Tensor]:
    if name not in features:
        raise ValueError(f"modality {name!r} has no features (got: {sorted(features) or 'none'})")
    feats, mask = features[name]
    if feats.dim() != 2 or feats.shape[0] != num_entities:
        raise ValueError(f"features of {name!r} must have shape [{num_entities}, d], got {tuple(feats.shape)}")
    if mask.shape != (num_entities,) or mask.dtype != torch.bool:
        raise ValueError(f"mask of {name!r} must be a bool tensor of shape [{num_entities}]")
    if not torch.isfinite(feats[mask]).all():
        raise ValueError(f"features of {name!r} hold NaN or inf for present rows")
    return feats, mask
