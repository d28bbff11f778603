"""Translation scorers (TransE, TransH, TransR, TransD) as interchangeable interactions.

Following PyKEEN's split, an interaction owns the relation parameters (and, for TransD, the entity
projection vectors) and turns entity representations into distances; where the entity
representation comes from (a plain embedding or TransFusion's fused video vector, eq. 3) is not
its business. Every scorer is written as "translate a query, then compare it with projected
candidates": for a tail query `a = proj_r(h) + r`, for a head query `a = proj_r(t) - r`, and the
distance is `||a - proj_r(c)||_p` for each candidate c. Scores are minus distances (eq. 6 uses d).

Relation parameters live in `RowTable`s so a batch updates only the relations it used.
Entity norm constraints (Algorithm 1 line 7 for TransE; the soft `||e|| <= 1` constraints of
TransH/R/D, enforced as a projection) are named by `entity_constraint` and applied by the model to
the entity rows a batch touches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .rows import RowTable, transe_bound, uniform_

# Bound on elements materialised at once when a distance cannot be written with matrix products.
_CHUNK_ELEMS = 1 << 24


def _dist(x: torch.Tensor, p: int) -> torch.Tensor:
    """||x||_p over the last dim; x must be a fresh intermediate (L1 may overwrite it when no grad).

    L1 as |x| summed: the same value and gradient (sgn x) as vector_norm(ord=1), whose CPU kernel
    measured ~8x slower on a training batch's [2000, 64] (docs/method.md, training speed)."""
    if p == 1:
        return (x.abs() if torch.is_grad_enabled() else x.abs_()).sum(-1)
    return torch.linalg.vector_norm(x, ord=p, dim=-1)


def _cdist(a: torch.Tensor, c: torch.Tensor, p: int) -> torch.Tensor:
    """Pairwise p-distances [B, C] between rows of a [B, D] and c [C, D], memory O(B*C)."""
    if p == 2:
        # ||a||^2 - 2 a.c + ||c||^2 through one matmul (what cdist does for large inputs).
        d2 = (a * a).sum(-1, keepdim=True) - 2 * a @ c.T + (c * c).sum(-1)
        return d2.clamp_min_(0).sqrt_()
    return torch.cdist(a.unsqueeze(0), c.unsqueeze(0), p=p).squeeze(0)


def _chunked(fn, num_candidates: int, per_candidate: int):
    """Run fn(slice) over candidate slices so that B*c*D stays under _CHUNK_ELEMS; concat on dim 1."""
    step = max(1, _CHUNK_ELEMS // max(1, per_candidate))
    if step >= num_candidates:
        return fn(slice(0, num_candidates))
    return torch.cat([fn(slice(i, min(i + step, num_candidates))) for i in range(0, num_candidates, step)], dim=1)


class Interaction(nn.Module):
    """Base class. Subclasses define relation tables and the three geometric steps."""

    name = "base"
    entity_constraint = "max1"  # "unit": renormalise rows to norm 1; "max1": clamp norms to <= 1

    def __init__(self, num_relations: int, num_entities: int, dim: int, p_norm: int):
        super().__init__()
        if p_norm not in (1, 2):
            raise ValueError(f"p_norm must be 1 or 2, got {p_norm}")
        self.num_relations, self.num_entities, self.dim, self.p_norm = num_relations, num_entities, dim, p_norm
        self.entity_extra: RowTable | None = None

    # -- relation parameters ---------------------------------------------------------------
    def relation_tables(self) -> dict[str, RowTable]:
        return {n: m for n, m in self.named_children() if isinstance(m, RowTable) and n != "entity_extra"}

    def relation_rows(self, r: torch.Tensor) -> dict[str, torch.Tensor]:
        """Relation parameters for unique relation ids r (trainable leaves while training)."""
        return {n: t.rows(r) for n, t in self.relation_tables().items()}

    def relation_all(self) -> dict[str, torch.Tensor]:
        return {n: t.all() for n, t in self.relation_tables().items()}

    def translation(self, rel: dict[str, torch.Tensor]) -> torch.Tensor:
        """The vector r that eq. 5's relation attention reads: the relation's translation."""
        return rel["r"]

    # -- geometry ----------------------------------------------------------------------------
    # Relation parameters arrive as (rel_u, inv): rows for the unique relations of a call and, per
    # entity row, the index of its relation in rel_u. The default gathers one row per entity row;
    # TransR, whose rows are D x D matrices, works relation by relation instead.
    def project(self, e: torch.Tensor, ex: torch.Tensor | None, rel: dict[str, torch.Tensor]) -> torch.Tensor:
        return e

    def distance(self, h, hx, rel_u, inv, t, tx) -> torch.Tensor:
        """d(proj_r(h) + r, proj_r(t)) for aligned rows h, t [N, D]."""
        rel = {k: v.index_select(0, inv) for k, v in rel_u.items()}
        return _dist(self.project(h, hx, rel) + rel["r"] - self.project(t, tx, rel), self.p_norm)

    def pair_distance(self, ht, htx, rel_u, inv) -> torch.Tensor:
        """`distance` for heads and tails stacked as ht [2, N, D] (htx likewise, or None)."""
        h, t = ht.unbind(0)
        hx, tx = (None, None) if htx is None else htx.unbind(0)
        return self.distance(h, hx, rel_u, inv, t, tx)

    def query(self, e, ex, rel, side: str) -> torch.Tensor:
        pe = self.project(e, ex, rel)
        return pe + rel["r"] if side == "tail" else pe - rel["r"]

    def distance_to(self, a, rel, c, cx) -> torch.Tensor:
        """[B, C] distances between queries a [B, D] (rel rows [B, ...]) and projected candidates c [C, D]."""
        raise NotImplementedError

    def score_candidates(self, e, ex, rel_u, inv, c, cx, side: str) -> torch.Tensor:
        """Scores [B, C] of (e, r, c) for side="tail", or of (c, r, e) for side="head"."""
        rel = {k: v.index_select(0, inv) for k, v in rel_u.items()}
        return -self.distance_to(self.query(e, ex, rel, side), rel, c, cx)

    def init_relations_(self) -> None:
        for t in self.relation_tables().values():
            uniform_(t.weight, transe_bound(self.dim))


class TransE(Interaction):
    """f_r(h, t) = -||h + r - t||_p (Bordes et al., 2013); Algorithm 1 keeps entities at unit L2 norm."""

    name = "transe"
    entity_constraint = "unit"

    def __init__(self, num_relations, num_entities, dim, p_norm):
        super().__init__(num_relations, num_entities, dim, p_norm)
        self.r = RowTable(num_relations, dim)
        self.init_relations_()
        with torch.no_grad():  # Bordes et al. normalise relations once, at initialisation
            self.r.weight.copy_(F.normalize(self.r.weight, dim=-1))

    def pair_distance(self, ht, htx, rel_u, inv):
        if self.p_norm != 1:
            return super().pair_distance(ht, htx, rel_u, inv)
        return _TransEL1.apply(ht, rel_u["r"].index_select(0, inv))

    def distance_to(self, a, rel, c, cx):
        return _cdist(a, c, self.p_norm)


class _TransEL1(torch.autograd.Function):
    """||h + r - t||_1 for ht = [h; t] [2, N, D] and r [N, D], as one autograd node whose backward
    writes the stacked gradient of h and t at once (sgn(x) g and -sgn(x) g; r gets sgn(x) g)."""

    @staticmethod
    def forward(ctx, ht, r):
        x = (ht[0] + r).sub_(ht[1])
        ctx.save_for_backward(x.sgn())
        return x.abs_().sum(-1)

    @staticmethod
    def backward(ctx, g):
        (sign,) = ctx.saved_tensors
        out = sign.new_empty((2, *sign.shape))
        torch.mul(sign, g.unsqueeze(-1), out=out[0])
        torch.neg(out[0], out=out[1])
        return out, out[0]


class TransH(Interaction):
    """Translation on a relation hyperplane (Wang et al., 2014): e_perp = e - (w_r.e) w_r, ||w_r|| = 1."""

    name = "transh"

    def __init__(self, num_relations, num_entities, dim, p_norm):
        super().__init__(num_relations, num_entities, dim, p_norm)
        self.r = RowTable(num_relations, dim)
        self.w = RowTable(num_relations, dim)
        self.init_relations_()

    def project(self, e, ex, rel):
        w = F.normalize(rel["w"], dim=-1)
        return e - (e * w).sum(-1, keepdim=True) * w

    def distance_to(self, a, rel, c, cx):
        w = F.normalize(rel["w"], dim=-1)  # [B, D]
        if self.p_norm == 2:
            # ||a - c + (w.c) w||^2 = ||a||^2 - 2 a.c + 2 (w.c)(a.w) + ||c||^2 - (w.c)^2
            wc = w @ c.T
            d2 = (a * a).sum(-1, keepdim=True) - 2 * a @ c.T + 2 * wc * (a * w).sum(-1, keepdim=True)
            d2 = d2 + (c * c).sum(-1) - wc * wc
            return d2.clamp_min_(0).sqrt_()

        def part(s):
            cs = c[s]
            proj = cs.unsqueeze(0) - (w @ cs.T).unsqueeze(-1) * w.unsqueeze(1)
            return _dist(a.unsqueeze(1) - proj, 1)

        return _chunked(part, c.shape[0], a.shape[0] * c.shape[1])


class TransR(Interaction):
    """Relation-specific spaces (Lin et al., 2015): e_r = e M_r, M_r in R^{D x D}, initialised to I."""

    name = "transr"

    def __init__(self, num_relations, num_entities, dim, p_norm):
        super().__init__(num_relations, num_entities, dim, p_norm)
        self.r = RowTable(num_relations, dim)
        self.init_relations_()
        self.m = RowTable(num_relations, dim, dim, init=torch.eye(dim).expand(num_relations, dim, dim).contiguous())

    def project(self, e, ex, rel):
        return torch.bmm(e.unsqueeze(1), rel["m"]).squeeze(1)

    # Gathering a D x D matrix per row would cost N*D*D memory: work one relation at a time.
    def distance(self, h, hx, rel_u, inv, t, tx):
        out = h.new_empty(h.shape[0])
        for j in range(rel_u["r"].shape[0]):
            rows = (inv == j).nonzero().squeeze(1)
            m = rel_u["m"][j]
            out[rows] = _dist(h[rows] @ m + rel_u["r"][j] - t[rows] @ m, self.p_norm)
        return out

    def score_candidates(self, e, ex, rel_u, inv, c, cx, side):
        out = e.new_empty(e.shape[0], c.shape[0])
        sign = 1.0 if side == "tail" else -1.0
        for j in range(rel_u["r"].shape[0]):
            rows = (inv == j).nonzero().squeeze(1)
            if rows.numel() == 0:
                continue
            m = rel_u["m"][j]
            a = e[rows] @ m + sign * rel_u["r"][j]
            out[rows] = -_cdist(a, c @ m, self.p_norm)
        return out


class TransD(Interaction):
    """Dynamic mapping (Ji et al., 2015): e_perp = e + (e_p.e) r_p (M = r_p e_p^T + I, equal widths)."""

    name = "transd"

    def __init__(self, num_relations, num_entities, dim, p_norm):
        super().__init__(num_relations, num_entities, dim, p_norm)
        self.r = RowTable(num_relations, dim)
        self.rp = RowTable(num_relations, dim)
        self.init_relations_()
        self.entity_extra = RowTable(num_entities, dim)
        # Projection vectors start small (Xavier bounds, as OpenKE), so projections start near identity.
        uniform_(self.rp.weight, (6.0 / (num_relations + dim)) ** 0.5)
        uniform_(self.entity_extra.weight, (6.0 / (num_entities + dim)) ** 0.5)

    def project(self, e, ex, rel):
        return e + (ex * e).sum(-1, keepdim=True) * rel["rp"]

    def distance_to(self, a, rel, c, cx):
        rp = rel["rp"]  # [B, D]
        s = (cx * c).sum(-1)  # [C] the candidates' own scalar e_p.e (relation independent)
        if self.p_norm == 2:
            # ||a - c - s rp||^2 = ||a - c||^2 - 2 s (rp.a) + 2 s (rp.c) + s^2 ||rp||^2
            d2 = (a * a).sum(-1, keepdim=True) - 2 * a @ c.T + (c * c).sum(-1)
            d2 = d2 - 2 * s * (rp * a).sum(-1, keepdim=True) + 2 * s * (rp @ c.T)
            d2 = d2 + s * s * (rp * rp).sum(-1, keepdim=True)
            return d2.clamp_min_(0).sqrt_()

        def part(sl):
            proj = c[sl].unsqueeze(0) + s[sl].view(1, -1, 1) * rp.unsqueeze(1)
            return _dist(a.unsqueeze(1) - proj, 1)

        return _chunked(part, c.shape[0], a.shape[0] * c.shape[1])


INTERACTIONS = {cls.name: cls for cls in (TransE, TransH, TransR, TransD)}


def make_interaction(base: str, num_relations: int, num_entities: int, dim: int, p_norm: int) -> Interaction:
    try:
        cls = INTERACTIONS[base]
    except KeyError:
        raise ValueError(f"unknown base {base!r}; choose one of {sorted(INTERACTIONS)}") from None
    return cls(num_relations, num_entities, dim, p_norm)
