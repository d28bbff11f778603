"""Entity representations: plain trainable embeddings, and TransFusion's fused video vector.

An entity is *fused* when it has at least one of the model's modalities (a video). Fused entities
are built from segments of width d_K (= `dim`):

  - the knowledge segment z_K: a trainable row (absent in Baseline3);
  - one segment per modality, z_M = ELU(e_M W_M + b_M) (eq. 1), with e_M the frozen pretrained
    feature (never updated; `FeatureRows` gathers a batch's rows from the caller's matrix, which may
    be a memory map of the run cache) and W_M, b_M trained.

How the segments combine depends on `mode`:

  - "attention" (TransFusion, Baseline3): p = softmax(a^T tanh(z V)) over the segments the video
    has (eq. 4; V, a shared across segments), h = [p_0 z_K, p_1 z_M1, ...] (eq. 3). A missing
    modality is masked out of the softmax (p = 0 exactly) and its segment is exactly zero.
    With `segment_norm` each z_M takes the knowledge rows' norm constraint, and with
    `segment_scale` the weights are multiplied by the number of segments present (docs/method.md).
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

from kgtag.errors import InvalidData

from .attention import Energy
from .feature_rows import FeatureRows
from .rows import RowTable, renorm_, transe_bound, uniform_
from .variants import KNOWLEDGE

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
        feature_dims: int | None = None,
        segment_norm: str | None = None,
        segment_scale: bool = False,
        fused_norm: str | None = None,
        knowledge_dropout: float = 0.0,
        relation_modality: int = 0,
        cold_knowledge: str = "zero",
    ):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown fusion mode {mode!r}")
        self.num_entities, self.dim, self.mode, self.knowledge = num_entities, dim, mode, knowledge
        self.segment_norm, self.segment_scale, self.fused_norm = segment_norm, segment_scale, fused_norm
        if not 0.0 <= knowledge_dropout < 1.0:
            raise ValueError(f"knowledge_dropout must be in [0, 1), got {knowledge_dropout}")
        self.knowledge_dropout = float(knowledge_dropout)
        self.dropped = None  # local z_K rows the last training forward dropped (see knowledge_keep)
        self.modalities = tuple(modalities) if mode != "plain" else ()
        segments = int(knowledge) + len(self.modalities)
        self.width = dim * segments if mode in ("attention", "concat") else dim
        self.segment_names = ([KNOWLEDGE] if knowledge else []) + list(self.modalities)

        present = torch.zeros(num_entities, len(self.modalities), dtype=torch.bool)
        rows_of = {}  # per modality, the frozen features [E, d]: a reference (maybe a memory map), not a copy
        for i, m in enumerate(self.modalities):
            rows_of[m] = _check_features(m, features, num_entities)
            present[:, i] = rows_of[m].present
        fused = present.any(1)
        local = torch.empty(num_entities, dtype=torch.long)
        local[fused] = torch.arange(int(fused.sum()))
        local[~fused] = torch.arange(int((~fused).sum()))
        self.register_buffer("fused", fused, persistent=False)
        self.register_buffer("local", local, persistent=False)
        self.register_buffer("fused_ids", fused.nonzero().squeeze(1), persistent=False)  # local -> entity id
        self.num_fused = int(fused.sum())
        self.all_plain = self.num_fused == 0
        self.register_buffer("held", None, persistent=False)  # None: every entity's rows are held (hold_)

        self.plain = RowTable(num_entities - self.num_fused, self.width)
        uniform_(self.plain.weight, transe_bound(self.width))
        self.variance_kept: dict[str, float] = {}  # per modality, when feature_dims reduces it
        self.feature_rows: dict[str, FeatureRows] = {}  # gathered per batch by entity id (not buffers)
        if self.num_fused:
            self.register_buffer("present", present[fused], persistent=False)  # fused rows only
            self.complete = bool(self.present.all())  # no masking needed anywhere
            in_dims = {}
            for m in self.modalities:
                if feature_dims is not None and rows_of[m].dim > feature_dims:
                    # PCA: the reduced matrix of the fused rows is small; it is held, indexed by local id
                    keep = rows_of[m].present[fused]
                    basis, mean, kept = pca_basis(rows_of[m].gather(self.fused_ids[keep]), feature_dims)
                    rows = torch.cat([(rows_of[m].gather(ids) - mean) @ basis for ids in self.fused_ids.split(_CHUNK)])
                    rows[~keep] = 0.0
                    self.variance_kept[m] = kept
                    # The basis is saved with the weights: a model rebuilt from a checkpoint checks
                    # that its features span the same subspace (see _align_basis).
                    self.register_buffer(f"basis_{m}", basis)
                    self.register_buffer(f"feat_{m}", rows.contiguous(), persistent=False)
                    in_dims[m] = rows.shape[1]
                else:
                    self.feature_rows[m] = rows_of[m]
                    in_dims[m] = rows_of[m].dim
            self.proj = nn.ModuleDict({m: nn.Linear(in_dims[m], dim) for m in self.modalities})
            if self.variance_kept:
                self._register_load_state_dict_pre_hook(self._align_basis)
            if knowledge:
                self.z_k = RowTable(self.num_fused, dim)
                uniform_(self.z_k.weight, transe_bound(dim))
                self.register_buffer("known", torch.ones(self.num_fused, dtype=torch.bool))  # see set_known_
                # cold_knowledge "learned": one trainable z_K shared by every video without its own
                # (cold, or dropped in training), zero at the start (= the "zero" rule)
                self.z_cold = nn.Parameter(torch.zeros(dim)) if cold_knowledge == "learned" and self.num_fused else None
            if mode == "attention":
                self.energy = Energy(dim, hidden)
        # Relation-conditioned modality attention (beyond the paper): relation_modality = R adds a
        # learned logit per (relation, segment) to eq. 4's energies, zero at the start (= eq. 4).
        self.relation_logits = None
        if relation_modality:
            if mode != "attention":
                raise ValueError("relation-conditioned modality attention needs the attention fusion (TransFusion)")
            if self.num_fused:
                self.relation_logits = nn.Parameter(torch.zeros(relation_modality, segments))

    # -- representation ------------------------------------------------------------------------
    def forward(self, ids: torch.Tensor, constrain: str | None = None) -> torch.Tensor:
        """Representations [n, width] of *unique* entity ids (training gathers each row once).

        constrain: "unit" | "max1" renormalises the trainable rows used first (Algorithm 1 line 7).
        """
        if self.all_plain:  # the row is the entity id, or after hold_ its rank-local row
            return self.plain.rows(ids if self.held is None else self.local.index_select(0, ids), constrain)
        f = self.fused.index_select(0, ids)
        local = self.local.index_select(0, ids)
        if self.num_fused == self.num_entities:
            return self.fuse(local, constrain)
        fi = f.nonzero().squeeze(1)
        if fi.numel() == ids.numel():
            return self.fuse(local, constrain)
        pi = (~f).nonzero().squeeze(1)
        if fi.numel() == 0:
            return self.plain.rows(local, constrain)
        parts = [self.plain.rows(local.index_select(0, pi), constrain), self.fuse(local.index_select(0, fi), constrain)]
        order = torch.cat([pi, fi])
        back = torch.empty_like(order)
        back[order] = torch.arange(order.shape[0], device=order.device)
        # index_select: its backward is an index_add, not the sorting accumulate of x[idx].
        return torch.cat(parts).index_select(0, back)

    def segments(self, v: torch.Tensor, constrain: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Segments z [n, S, d_K] (eq. 1) and presence mask [n, S] of fused rows v (local ids)."""
        zs, masks = [], []
        if self.knowledge:
            keep = self.known.index_select(0, v)
            if self.training and self.knowledge_dropout > 0:
                drawn = self.knowledge_keep(v.shape[0], v.device)
                self.dropped = v[~drawn]  # for KGModel.loss's knowledge_dropout_detach
                keep = keep & drawn
            z_k = self.z_k.rows(v, constrain) * keep.unsqueeze(1)
            if self.z_cold is not None:  # at most norm 1, as a z_K row ("max1": no blow-up at 0)
                z_k = z_k + (~keep).unsqueeze(1) * _normalised(self.z_cold, "max1")
            zs.append(z_k)
            masks.append(torch.ones(v.shape[0], 1, dtype=torch.bool, device=v.device))
        for m in self.modalities:
            # Frozen features: a plain gather (no gradient), then one matmul per modality (eq. 1).
            lin = self.proj[m]
            z = F.elu(F.linear(self._features(m, v), lin.weight, lin.bias))
            zs.append(z if self.segment_norm is None else _normalised(z, self.segment_norm))
        masks.append(self.present.index_select(0, v))
        return torch.stack(zs, 1), torch.cat(masks, 1)

    def knowledge_keep(self, n: int, device=None) -> torch.Tensor:
        """BoolTensor[n]: which of n fused rows keep z_K in this training forward (DropoutNet, Volkovs
        et al., NeurIPS 2017): each is dropped with probability `knowledge_dropout`, drawn from torch's
        global generator (seeded and checkpointed by the trainer). A dropped row is exactly a cold
        video's (z_K = 0, eq. 3-4 unchanged), so the modality path alone must place it; only the rows
        a batch uses are drawn."""
        return torch.rand(n, device=device) >= self.knowledge_dropout

    def dropped_of(self, ids: torch.Tensor) -> torch.Tensor:
        """BoolTensor[n]: which entity ids had z_K dropped in the last training forward."""
        if self.dropped is None or self.all_plain:
            return torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
        return self.fused.index_select(0, ids) & torch.isin(self.local.index_select(0, ids), self.dropped)

    def _features(self, m: str, v: torch.Tensor) -> torch.Tensor:
        """Frozen features [n, d] of fused rows v (local ids): the PCA-reduced buffer, or gathered rows."""
        if m in self.feature_rows:
            return self.feature_rows[m].gather(self.fused_ids.index_select(0, v))
        return getattr(self, f"feat_{m}").index_select(0, v)

    def _apply(self, fn, *args, **kwargs):
        """Module.to / .cuda / .cpu: the feature rows follow the buffers' device."""
        out = super()._apply(fn, *args, **kwargs)
        for rows in self.feature_rows.values():
            rows.to(self.fused.device)
        return out

    def weights(self, z: torch.Tensor, mask: torch.Tensor, rel: torch.Tensor | None = None) -> torch.Tensor:
        """Segment weights [n, S]: eq. 4 for attention (masked softmax), equal weights otherwise.

        rel [n] (relation ids), with relation-conditioned attention: eq. 4 with the relation's
        logit per segment added, p_{v,r,s} = softmax_s(e(z_{v,s}) + c_{r,s}) over present segments.
        """
        if self.mode == "attention":
            logits = self.energy(z)
            if rel is not None and self.relation_logits is not None:
                logits = logits + self.relation_logits.index_select(0, rel)
            if not self.complete:  # (when every video has every modality there is nothing to mask)
                logits = logits.masked_fill(~mask, float("-inf"))
            return torch.softmax(logits, dim=1)
        w = mask.to(z.dtype)
        return w / w.sum(1, keepdim=True)

    def fuse(self, v: torch.Tensor, constrain: str | None = None, rel: torch.Tensor | None = None) -> torch.Tensor:
        """h_vid [n, width] of fused rows v (local ids): eq. 3, or the baselines' concat / sum.
        rel [n]: relation ids, for relation-conditioned attention (h_{vid, r}); v may then repeat."""
        z, mask = self.segments(v, constrain)
        return self.combine(z, mask, rel)

    def combine(self, z: torch.Tensor, mask: torch.Tensor, rel: torch.Tensor | None = None) -> torch.Tensor:
        """Eq. 3 from segments z [n, S, d] and their mask [n, S] (rel [n]: see `weights`)."""
        if self.mode == "attention":
            # A missing segment has p = 0 exactly (masked softmax) and a finite z (its feature row
            # is zeroed at build), so p * z is exactly zero there.
            w = self.weights(z, mask, rel)
            if self.segment_scale:  # uniform attention then leaves every segment at its own scale
                w = w * mask.sum(1, keepdim=True)
            h = (w.unsqueeze(-1) * z).flatten(1)
        else:
            z = z * mask.unsqueeze(-1).to(z.dtype)
            h = z.flatten(1) if self.mode == "concat" else z.sum(1)
        return h if self.fused_norm is None else _normalised(h, self.fused_norm)

    def _align_basis(self, state_dict, prefix, *args) -> None:
        """Before loading weights: re-express the reduced features in the saved PCA basis.

        W was trained on features reduced with the saved basis. Rebuilt from the same features,
        the basis spans the same subspace (eigenvectors may differ in sign or within ties), and
        the reduced features are mapped onto the saved one exactly; other features are refused.
        """
        for m in self.variance_kept:
            saved = state_dict.get(prefix + f"basis_{m}")
            built = getattr(self, f"basis_{m}")
            if saved is None or saved.shape != built.shape or torch.equal(saved.to(built.device), built):
                continue  # a shape mismatch is reported by load_state_dict itself
            rot = built.T.double() @ saved.to(built.device).double()
            eye = torch.eye(rot.shape[0], dtype=rot.dtype, device=rot.device)
            if not torch.allclose(rot.T @ rot, eye, atol=1e-3):
                raise RuntimeError(
                    f"the {m!r} features span another PCA subspace than the ones this model was trained "
                    "with: pass the same features"
                )
            feat = getattr(self, f"feat_{m}")
            feat.copy_((feat.double() @ rot).to(feat.dtype))

    @torch.no_grad()
    def all(self) -> torch.Tensor:
        """Every entity's representation [E, width], computed in chunks without gradients; after
        `hold_`, those of the held entities only, in the order of `held` (sorted ids)."""
        if self.all_plain and (self.held is None or self.sorted_rows):
            return self.plain.all()  # the table itself: row i is entity i (after hold_, held[i])
        ids = torch.arange(self.num_entities, device=self.fused.device) if self.held is None else self.held
        return torch.cat([self(ids[i : i + _CHUNK]) for i in range(0, len(ids), _CHUNK)])

    @torch.no_grad()
    def hold_(self, order: torch.Tensor) -> None:
        """Keep only the trainable rows of the entities `order` (ids), in that order: rank-local row
        ids (embed.distributed: a rank holds its own videos' rows and the shared ones, never another
        rank's). The tables, `known`, `present` and `fused_ids` shrink to those rows; `local` maps
        an entity to its new row (-1 where not held: index_select then fails instead of reading
        another entity's row). `plain_rows` / `fused_rows` keep each held row's row in the whole
        tables (to assemble them again, embed.distributed.Ranks.consolidate)."""
        order = order.to(self.local.device)
        f = self.fused.index_select(0, order)
        plain_ids, fused_ids = order[~f], order[f]
        plain_rows, fused_rows = self.local.index_select(0, plain_ids), self.local.index_select(0, fused_ids)
        self.plain.weight = nn.Parameter(self.plain.weight.index_select(0, plain_rows), requires_grad=False)
        if self.num_fused:
            if self.knowledge:
                self.z_k.weight = nn.Parameter(self.z_k.weight.index_select(0, fused_rows), requires_grad=False)
                self.known = self.known.index_select(0, fused_rows)
            self.present = self.present.index_select(0, fused_rows)
            for m in self.modalities:  # a PCA-reduced buffer is indexed by fused row too
                if hasattr(self, f"feat_{m}"):
                    setattr(self, f"feat_{m}", getattr(self, f"feat_{m}").index_select(0, fused_rows))
        self.fused_ids = fused_ids
        local = torch.full_like(self.local, -1)
        local[plain_ids] = torch.arange(len(plain_ids), device=local.device)
        local[fused_ids] = torch.arange(len(fused_ids), device=local.device)
        self.local = local
        self.register_buffer("plain_ids", plain_ids, persistent=False)
        self.register_buffer("plain_rows", plain_rows, persistent=False)
        self.register_buffer("fused_rows", fused_rows, persistent=False)
        self.register_buffer("held", torch.sort(order).values, persistent=False)
        self.sorted_rows = bool(torch.equal(self.held, order))

    def row_entities(self, table: RowTable) -> torch.Tensor:
        """The entity id of each row of `plain` or `z_k` (after `hold_`: of the held rows)."""
        if table is self.plain:
            return self.plain_ids if self.held is not None else (~self.fused).nonzero().squeeze(1)
        return self.fused_ids

    def conditioned(self, ids: torch.Tensor, rel: torch.Tensor, base: torch.Tensor, constrain: str | None = None):
        """base [n, width] with its fused rows replaced by h_{vid, r} (relation-conditioned eq. 3-4)
        for the (entity, relation) pairs (ids[i], rel[i]); ids may repeat. Each fused entity's
        segments are computed once (unique ids), then weighted per pair."""
        if self.relation_logits is None or self.all_plain:
            return base
        f = self.fused.index_select(0, ids)
        rows = f.nonzero().squeeze(1)
        if rows.numel() == 0:
            return base
        uniq, inv = torch.unique(ids.index_select(0, rows), return_inverse=True)
        z, mask = self.segments(self.local.index_select(0, uniq), constrain)
        h = self.combine(z.index_select(0, inv), mask.index_select(0, inv), rel.index_select(0, rows))
        return base.index_put((rows,), h)

    @torch.no_grad()
    def modality_attention(self, ids: torch.Tensor, rel: torch.Tensor | None = None) -> torch.Tensor:
        """Weights [n, S] over `segment_names` for any entity ids.

        Fused entities: the p of eq. 4 (attention modes; with `rel` [n] and relation-conditioned
        attention, the weights for that relation) or the equal weights that concatenation
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
            out[f] = self.weights(z, mask, None if rel is None else rel[f])
        return out

    # -- constraints (Algorithm 1 line 7) ------------------------------------------------------
    @torch.no_grad()
    def constrain_(self, ids: torch.Tensor, kind: str) -> None:
        """Renormalise the trainable rows behind entity ids: "unit" (norm 1) or "max1" (norm <= 1).

        Applies to plain rows and to knowledge segments z_K; projected modality segments are
        functions of frozen features, not rows, and are left as they are.
        """
        if self.all_plain:
            _renorm_rows_(self.plain.weight, ids if self.held is None else self.local[ids], kind)
            return
        f = self.fused[ids]
        _renorm_rows_(self.plain.weight, self.local[ids[~f]], kind)
        if self.knowledge:
            _renorm_rows_(self.z_k.weight, self.local[ids[f]], kind)

    @torch.no_grad()
    def set_known_(self, seen: torch.Tensor) -> None:
        """Hold z_K at zero for the fused entities where `seen` [E] is False (no training triple).

        Training never pulls such a video's z_K towards its tags (only pushes it as a random
        negative), and a random z_K would add noise of a trained segment's size to its fused vector.
        """
        if self.knowledge and not self.all_plain:
            self.known.copy_(seen[self.fused_ids])

    @torch.no_grad()
    def constrain_all_(self, kind: str) -> None:
        for t in [self.plain] + ([self.z_k] if self.knowledge and self.num_fused else []):
            _renorm_rows_(t.weight, torch.arange(t.num, device=t.weight.device), kind)


@torch.no_grad()
def pca_basis(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Top-k principal directions of the rows of x: (basis [d, k], mean [d], share of variance kept).

    Computed once at build time in float64 from the d x d covariance; each direction's sign is
    fixed (largest component positive) so that the same features give the same basis.
    """
    x = x.double()
    mean = x.mean(0) if x.shape[0] else torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
    xc = x - mean
    evals, evecs = torch.linalg.eigh(xc.T @ xc)
    evals, evecs = evals.flip(0).clamp_min(0), evecs.flip(1)
    basis = evecs[:, :k]
    sign = torch.sign(basis.gather(0, basis.abs().argmax(0, keepdim=True)))
    basis = basis * torch.where(sign == 0, torch.ones_like(sign), sign)
    total = float(evals.sum())
    kept = float(evals[:k].sum()) / total if total > 0 else 1.0
    return basis.float(), mean.float(), kept


def _normalised(z: torch.Tensor, kind: str) -> torch.Tensor:
    """z scaled to norm 1 ("unit") or at most 1 ("max1"), differentiably (z is a function, not a row)."""
    norm = torch.linalg.vector_norm(z, dim=-1, keepdim=True).clamp_min(1e-12)
    return z / (norm if kind == "unit" else norm.clamp_min(1.0))


def _renorm_rows_(weight: torch.Tensor, idx: torch.Tensor, kind: str) -> None:
    if idx.numel() == 0:
        return
    weight.index_copy_(0, idx, renorm_(weight.index_select(0, idx), kind))


def _check_features(name: str, features: dict, num_entities: int) -> FeatureRows:
    if name not in features:
        raise InvalidData(f"modality {name!r} has no features (got: {sorted(features) or 'none'})")
    if isinstance(features[name], FeatureRows):  # a shard's rows (kgtag.runs.shard)
        rows = features[name]
        if rows.present.shape != (num_entities,):
            raise InvalidData(f"mask of {name!r} must be a bool tensor of shape [{num_entities}]")
        rows.check_finite(name)
        return rows
    feats, mask = features[name]
    if feats.dim() != 2 or feats.shape[0] != num_entities:
        raise InvalidData(f"features of {name!r} must have shape [{num_entities}, d], got {tuple(feats.shape)}")
    if mask.shape != (num_entities,) or mask.dtype != torch.bool:
        raise InvalidData(f"mask of {name!r} must be a bool tensor of shape [{num_entities}]")
    rows = FeatureRows(feats, mask)
    rows.check_finite(name)
    return rows
