"""Translation scorers (TransE, TransH, TransR, TransD) as stateless interactions of (h, r, t).

Following PyKEEN's split, an interaction holds no parameters: it turns representations it is given
into distances. Entity representations (a trainable row, or TransFusion's fused video vector of
eq. 3; `fusion.py`), TransD's entity projection vectors and the relation parameters
(`relations.py`) are all arguments. Every scorer is written as "translate a query, then compare it
with projected candidates": for a tail query `a = proj_r(h) + r`, for a head query
`a = proj_r(t) - r`, and the distance is `d = ||a - proj_r(c)||_p` for each candidate c. Scores are
minus distances; eq. 6's loss uses d.

Each base also names the norm constraint its entity rows keep (`entity_constraint`: Algorithm 1
line 7 for TransE; the soft `||e|| <= 1` of TransH/R/D, enforced as a projection); the model
applies it to the rows a batch touches.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch
import torch.nn.functional as F

from .variants import BASES

# Bound on elements materialised at once when a distance cannot be written with matrix products.
_CHUNK_ELEMS = 1 << 24


class Entities(NamedTuple):
    """Entity representations: vectors e [..., D] and TransD's projection vectors e_p (None otherwise)."""

    e: torch.Tensor
    p: torch.Tensor | None = None


class Relations(NamedTuple):
    """Relation parameters for a batch of query rows, without gathering one copy per row.

    `rows[name]` [U, ...] holds the parameters of the U unique relations of the call (see
    `relations.RelationRepresentation.rows`); `inv` [N] gives each query row's relation in them.
    """

    rows: dict[str, torch.Tensor]
    inv: torch.Tensor

    def per_row(self) -> dict[str, torch.Tensor]:
        return {k: v.index_select(0, self.inv) for k, v in self.rows.items()}


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


class Interaction:
    """A translation scorer d(h, r, t) = ||proj_r(h) + r - proj_r(t)||_p; subclasses define proj_r.

    Holds only the distance's order p (1 or 2). Methods take `Entities` and `Relations`.
    """

    name: ClassVar[str] = "base"
    entity_constraint: ClassVar[str] = "max1"  # "unit": rows renormalised to norm 1; "max1": norms clamped to <= 1

    def __init__(self, p_norm: int):
        if p_norm not in (1, 2):
            raise ValueError(f"p_norm must be 1 or 2, got {p_norm}")
        self.p_norm = p_norm

    def project(self, e: torch.Tensor, ep: torch.Tensor | None, rel: dict[str, torch.Tensor]) -> torch.Tensor:
        """proj_r(e) for rows e [N, D] with their relation's parameters `rel` gathered per row."""
        return e

    def distance(self, h: Entities, r: Relations, t: Entities) -> torch.Tensor:
        """d(h, r, t) [N] for aligned rows h, t [N, D]."""
        rel = r.per_row()
        return _dist(self.project(h.e, h.p, rel) + rel["r"] - self.project(t.e, t.p, rel), self.p_norm)

    def pair_distance(self, ht: Entities, r: Relations) -> torch.Tensor:
        """`distance` for heads and tails stacked as ht.e [2, N, D] (ht.p likewise, or None): the loss's layout."""
        (h, t), (hp, tp) = ht.e.unbind(0), ((None, None) if ht.p is None else ht.p.unbind(0))
        return self.distance(Entities(h, hp), r, Entities(t, tp))

    def query(self, e: Entities, rel: dict[str, torch.Tensor], side: str) -> torch.Tensor:
        pe = self.project(e.e, e.p, rel)
        return pe + rel["r"] if side == "tail" else pe - rel["r"]

    def distance_to(self, a: torch.Tensor, rel: dict[str, torch.Tensor], c: Entities) -> torch.Tensor:
        """[B, C] distances between queries a [B, D] (rel rows [B, ...]) and candidates c [C, D], projected here."""
        raise NotImplementedError

    def score_candidates(self, anchor: Entities, r: Relations, c: Entities, side: str) -> torch.Tensor:
        """Scores [B, C] = -d of (anchor, r, c) for side="tail", or of (c, r, anchor) for side="head"."""
        rel = r.per_row()
        return -self.distance_to(self.query(anchor, rel, side), rel, c)


class TransE(Interaction):
    """TransE (Bordes et al., 2013, "Translating Embeddings for Modeling Multi-relational Data").

        d(h, r, t) = ||h + r - t||_p

    Algorithm 1 line 7 keeps entity rows at unit L2 norm (`entity_constraint = "unit"`).
    """

    name = "transe"
    entity_constraint = "unit"

    def pair_distance(self, ht, r):
        if self.p_norm != 1:
            return super().pair_distance(ht, r)
        return _TransEL1.apply(ht.e, r.rows["r"].index_select(0, r.inv))

    def distance_to(self, a, rel, c):
        return _cdist(a, c.e, self.p_norm)


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
    """TransH (Wang et al., 2014, "Knowledge Graph Embedding by Translating on Hyperplanes").

        e_perp = e - (w_r . e) w_r,  with w_r normalised to ||w_r|| = 1
        d(h, r, t) = ||h_perp + r - t_perp||_p
    """

    name = "transh"

    def project(self, e, ep, rel):
        w = F.normalize(rel["w"], dim=-1)
        return e - (e * w).sum(-1, keepdim=True) * w

    def distance_to(self, a, rel, c):
        c = c.e
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
    """TransR (Lin et al., 2015, "Learning Entity and Relation Embeddings for Knowledge Graph Completion").

        e_r = e M_r,  M_r in R^{D x D} (square: entities and relations share the width)
        d(h, r, t) = ||h_r + r - t_r||_p
    """

    name = "transr"

    def project(self, e, ep, rel):
        return torch.bmm(e.unsqueeze(1), rel["m"]).squeeze(1)

    # Gathering a D x D matrix per row would cost N*D*D memory: work one relation at a time.
    def distance(self, h, r, t):
        h, t, rel_u = h.e, t.e, r.rows
        out = h.new_empty(h.shape[0])
        for j in range(rel_u["r"].shape[0]):
            rows = (r.inv == j).nonzero().squeeze(1)
            m = rel_u["m"][j]
            out[rows] = _dist(h[rows] @ m + rel_u["r"][j] - t[rows] @ m, self.p_norm)
        return out

    def score_candidates(self, anchor, r, c, side):
        e, c, rel_u = anchor.e, c.e, r.rows
        out = e.new_empty(e.shape[0], c.shape[0])
        sign = 1.0 if side == "tail" else -1.0
        for j in range(rel_u["r"].shape[0]):
            rows = (r.inv == j).nonzero().squeeze(1)
            if rows.numel() == 0:
                continue
            m = rel_u["m"][j]
            a = e[rows] @ m + sign * rel_u["r"][j]
            out[rows] = -_cdist(a, c @ m, self.p_norm)
        return out


class TransD(Interaction):
    """TransD (Ji et al., 2015, "Knowledge Graph Embedding via Dynamic Mapping Matrix").

        M_re = r_p e_p^T + I, so e_perp = M_re e = e + (e_p . e) r_p  (equal entity and relation widths)
        d(h, r, t) = ||h_perp + r - t_perp||_p

    e_p is the entity's projection vector (`Entities.p`), r_p the relation's (`rows["rp"]`).
    """

    name = "transd"

    def project(self, e, ep, rel):
        return e + (ep * e).sum(-1, keepdim=True) * rel["rp"]

    def distance_to(self, a, rel, c):
        c, cp = c.e, c.p
        rp = rel["rp"]  # [B, D]
        s = (cp * c).sum(-1)  # [C] the candidates' own scalar e_p.e (relation independent)
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
assert tuple(INTERACTIONS) == BASES


def make_interaction(base: str, p_norm: int) -> Interaction:
    try:
        cls = INTERACTIONS[base]
    except KeyError:
        raise ValueError(f"unknown base {base!r}; choose one of {', '.join(BASES)}") from None
    return cls(p_norm)
