"""One knowledge-graph embedding model for TransE, TransFusion and the paper's baselines.

`ModelConfig.variant` picks the entity representation (see `fusion.py`) and the default for
relation attention (eq. 5); `ModelConfig.base` picks the translation scorer (the stateless
`interactions.py`) and its relation parameters (`relations.py`). Every combination composes
(paper Table 5; the table itself is `variants.VARIANT_SPECS`):

=============  ==========================  ==================  ============================
variant        video representation        width               relation attention (default)
=============  ==========================  ==================  ============================
transe         trainable row               dim                 off
transfusion0   trainable row               dim                 on
transfusion    [p0 z_K, p1 z_M1, ...]      dim * (1 + M)       on
b1             [z_K, z_M1, ...]            dim * (1 + M)       off
b2             z_K + sum z_M               dim                 off
b3             [p1 z_M1, ...]              dim * M             on
=============  ==========================  ==================  ============================

Tags (and any entity without the model's modalities) have a trainable row of the full width;
relation vectors have the full width too, so h + r - t is defined for every triple.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from kgtag.errors import InvalidData

from .attention import RelationAttention
from .config import ModelConfig
from .fusion import EntityRepresentation
from .interactions import Entities, Relations, make_interaction
from .relations import RelationRepresentation, entity_projections
from .rows import unique_ids
from .variants import BASES, VARIANT_SPECS, VARIANTS, fusion_mode

__all__ = ["BASES", "VARIANTS", "KGModel", "ModelConfig", "build_model"]


class KGModel(nn.Module):
    """Representations (entities, relations) + a stateless interaction + optional relation attention (eq. 5-6).

    Parameters live in the representations: `entities` (trainable rows and the fused video vector,
    eq. 1-4), `relations` (the base's relation tables), `entity_proj` (TransD's e_p, else None) and
    `rel_attention` (eq. 5). `interaction` (TransE/H/R/D) only computes distances.
    """

    def __init__(self, config: ModelConfig, num_entities: int, num_relations: int, features=None):
        super().__init__()
        features = features or {}
        self.config = config
        self.num_entities, self.num_relations = num_entities, num_relations
        self.interaction = make_interaction(config.base, config.p_norm)
        constraint = self.interaction.entity_constraint
        self.entities = EntityRepresentation(
            num_entities, config.dim, config.hidden, fusion_mode(config.variant, config.modalities),
            VARIANT_SPECS[config.variant].knowledge, config.modalities, features,
            feature_dims=config.feature_dims,
            segment_norm=constraint if config.segment_norm else None,
            segment_scale=config.segment_scale,
            fused_norm=constraint if config.fused_norm else None,
            knowledge_dropout=config.knowledge_dropout,
            relation_modality=num_relations if config.relation_modality else 0,
            cold_knowledge=config.cold_knowledge,
        )
        width = self.entities.width
        assert width == config.width
        # Created in this order (entities, relations, entity_proj, attention): it fixes the random
        # draws at init and the optimiser's table order, so seeded runs and checkpoints stay as before.
        self.relations = RelationRepresentation(config.base, num_relations, width)
        self.entity_proj = entity_projections(config.base, num_entities, width)
        self.rel_attention = RelationAttention(width, config.hidden) if config.relation_attention else None
        self._cache: Entities | None = None
        # Which relations' triples `knowledge_dropout_detach` applies to (bool [R]; None: all). Set
        # by bench/cold_start.py's oracle only (docs/method.md); no config field sets it.
        self.detach_relations: torch.Tensor | None = None
        self.entities.constrain_all_(constraint)
        self._register_load_state_dict_pre_hook(_rename_old_keys)

    # -- representations ------------------------------------------------------------------------
    @property
    def segment_names(self) -> list[str]:
        return list(self.entities.segment_names)

    @property
    def is_fused(self) -> torch.Tensor:
        """BoolTensor[E]: entities represented by fusion (videos with at least one modality)."""
        return self.entities.fused

    @property
    def held(self) -> torch.Tensor | None:
        """Sorted ids of the entities whose rows this process holds (`hold_`), None for every entity."""
        return self.entities.held

    @torch.no_grad()
    def hold_(self, order: torch.Tensor) -> None:
        """Keep only the rows of the entities `order`, in that order (rank-local row ids, see
        EntityRepresentation.hold_; TransD's projection rows likewise). Scoring then accepts those
        entities only, and `_all_entities` (the scoring cache) holds their vectors only."""
        self.entities.hold_(order)
        if self.entity_proj is not None:
            order = order.to(self.entity_proj.weight.device)
            self.entity_proj.weight = nn.Parameter(self.entity_proj.weight.index_select(0, order), requires_grad=False)
            slot = torch.full((self.num_entities,), -1, dtype=torch.long, device=order.device)
            slot[order] = torch.arange(len(order), device=order.device)
            self.register_buffer("proj_slot", slot, persistent=False)
            self.register_buffer("proj_ids", order, persistent=False)

    def _proj_rows(self, ids: torch.Tensor) -> torch.Tensor | None:
        if self.entity_proj is None:
            return None
        return self.entity_proj.rows(ids if self.held is None else self.proj_slot.index_select(0, ids))

    def _held_positions(self, ids: torch.Tensor) -> torch.Tensor:
        """Positions of entity ids in `held` (the rows of the scoring cache after `hold_`)."""
        held = self.held
        if held is None:
            return ids
        pos = torch.searchsorted(held, ids).clamp_(max=len(held) - 1)
        if not torch.equal(held.index_select(0, pos), ids):
            raise ValueError("entities outside the rows this process holds were asked for (a rank scores its own "
                             "videos and the shared entities only)")
        return pos

    def _represent_unique(self, uniq: torch.Tensor, constrain: bool = False) -> Entities:
        if self._cache is not None and not torch.is_grad_enabled():
            e, ep = self._cache
            pos = self._held_positions(uniq)
            return Entities(e[pos], None if ep is None else ep[pos])
        kind = self.interaction.entity_constraint if constrain else None
        return Entities(self.entities(uniq, kind), self._proj_rows(uniq))

    def represent(self, ids: torch.Tensor) -> Entities:
        """(vectors [n, width], TransD's projection vectors [n, width] or None) for entity ids, duplicates allowed."""
        uniq, inv = torch.unique(ids, return_inverse=True)
        e, ep = self._represent_unique(uniq)
        return Entities(e[inv], None if ep is None else ep[inv])

    def _all_entities(self) -> Entities:
        if self._cache is not None:
            return self._cache
        if self.held is None:
            return Entities(self.entities.all(), None if self.entity_proj is None else self.entity_proj.all())
        return Entities(self.entities.all(), self._proj_rows(self.held))

    def _relations(self, r: torch.Tensor) -> Relations:
        uniq, inv = unique_ids(r, self.num_relations)
        return Relations(self.relations.rows(uniq), inv)

    @contextlib.contextmanager
    def cached_entities(self):
        """Compute every entity's representation once and reuse it for scoring inside the block.

        Training inside the block would read stale vectors; the cache is dropped on exit.
        """
        outer = self._cache
        if outer is None:
            self._cache = self._all_entities()
        try:
            yield self
        finally:
            self._cache = outer

    # -- scoring (higher = more plausible = minus the distance) ----------------------------------
    def _conditioned_heads(self, h: torch.Tensor, r: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """Head vectors e [n, width] with fused heads as h_{vid, r} (relation-conditioned attention)."""
        if self.entities.relation_logits is None:
            return e
        return self.entities.conditioned(h, r, e)

    def score_triples(self, h: torch.Tensor, r: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        n = h.shape[0]
        e, ep = self.represent(torch.cat([h, t]))
        heads = Entities(self._conditioned_heads(h, r, e[:n]), None if ep is None else ep[:n])
        tails = Entities(e[n:], None if ep is None else ep[n:])
        return -self.interaction.distance(heads, self._relations(r), tails)

    def _score_side(self, anchor, r, candidates, side):
        query, rel = self.represent(anchor), self._relations(r)
        if side == "tail":
            query = Entities(self._conditioned_heads(anchor, r, query.e), query.p)
        if candidates is None and self.held is not None:
            raise ValueError("a model holding only some entities' rows scores given candidates only")
        c = self._all_entities() if candidates is None else self.represent(candidates)
        return self.interaction.score_candidates(query, rel, c, side)

    def score_tails(self, h: torch.Tensor, r: torch.Tensor, candidates: torch.Tensor | None = None) -> torch.Tensor:
        """Scores [B, C] of (h_b, r_b, c) for candidate ids c (all entities when None)."""
        return self._score_side(h, r, candidates, "tail")

    def score_heads(self, r: torch.Tensor, t: torch.Tensor, candidates: torch.Tensor | None = None) -> torch.Tensor:
        """Scores [B, C] of (c, r_b, t_b) for candidate ids c (all entities when None)."""
        return self._score_side(t, r, candidates, "head")

    # -- attention --------------------------------------------------------------------------------
    def relation_weights(self) -> torch.Tensor:
        """q [R] of eq. 5 (with gradients while training); ones when relation attention is off."""
        if self.rel_attention is None:
            return torch.ones(self.num_relations, device=self.entities.local.device)
        return self.rel_attention(self.relations.translations())

    @torch.no_grad()
    def relation_attention(self) -> torch.Tensor:
        return self.relation_weights()

    @torch.no_grad()
    def modality_attention(self, entity_ids: torch.Tensor, relations: torch.Tensor | None = None) -> torch.Tensor:
        """Weights [B, S] over `segment_names` (eq. 4; per (video, relation) with `relations` [B] and
        relation-conditioned attention); see EntityRepresentation.modality_attention."""
        return self.entities.modality_attention(entity_ids, relations)

    # -- training -----------------------------------------------------------------------------------
    @torch.no_grad()
    def constrain_(self, entity_ids: torch.Tensor) -> None:
        """Algorithm 1 line 7 (h <- h/||h||, t <- t/||t||) for the rows these (unique) ids use."""
        self.entities.constrain_(entity_ids, self.interaction.entity_constraint)

    def loss(self, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        """Eq. 6: mean over (positive, negative) pairs of q_r * [gamma + d(pos) - d(neg)]_+.

        With relation attention on, `tau * (L / R) * sum_r p_r log p_r` is added (tau =
        `relation_entropy`, L the weighted loss, not differentiated, p = q - 1 eq. 5's softmax). Its
        minimum over p is p_r ~ exp(-R * share_r / tau), share_r being relation r's part of L: the
        relations the model fits best get the most weight, without all of it going to one.

        pos [B, 3] and neg [B, k, 3] hold (h, r, t) ids; each positive is paired with its k
        negatives. In training mode the entity rows the batch touches are renormalised first
        (Algorithm 1 line 7), and each entity's representation is computed once (unique ids).
        """
        b, k = neg.shape[0], neg.shape[1]
        trip = torch.cat([pos, neg.reshape(-1, 3)])
        n = trip.shape[0]
        uniq, inv = unique_ids(torch.cat([trip[:, 0], trip[:, 2]]), self.num_entities)
        e, ep = self._represent_unique(uniq, constrain=self.training)
        # One gather for heads and tails; unbind (not slicing) keeps the backward free of zero-fills.
        # index_select: its backward is an index_add (x[idx]'s sorts to accumulate).
        ht = e.index_select(0, inv).view(2, n, -1)
        if self.entities.relation_logits is not None:  # fused heads as h_{vid, r}
            ht = torch.stack([self.entities.conditioned(trip[:, 0], trip[:, 1], ht[0]), ht[1]])
        htp = None if ep is None else ep.index_select(0, inv).view(2, n, -1)
        rel = self._relations(trip[:, 1])
        if self.config.knowledge_dropout_detach != "none" and self.training:
            cold = self.entities.dropped_of(uniq).index_select(0, inv[:n])
            if self.detach_relations is not None:
                cold = cold & self.detach_relations.index_select(0, trip[:, 1])
            mode = self.config.knowledge_dropout_detach
            ht, htp, rel = _detach_cold(cold, ht, htp, rel, tails=mode in ("tails", "all"), relations=mode != "tails")
        d = self.interaction.pair_distance(Entities(ht, htp), rel)
        d_pos, d_neg = d.split([b, n - b])
        d_neg = d_neg.view(b, k)
        if self.config.loss == "softplus":
            hinge = 0.5 * (F.softplus(d_pos - self.config.margin).unsqueeze(1) + F.softplus(self.config.margin - d_neg))
        else:
            hinge = F.relu(self.config.margin + d_pos.unsqueeze(1) - d_neg)
        if self.config.adversarial_temperature > 0 and k > 1:
            # k * softmax keeps the mean weight at 1, so the loss stays on eq. 6's scale.
            hinge = hinge * (k * torch.softmax(-self.config.adversarial_temperature * d_neg.detach(), dim=1))
        if self.rel_attention is None:
            return hinge.mean()
        q = self.relation_weights()
        loss = (hinge * q[pos[:, 1]].unsqueeze(1)).mean()
        if self.config.relation_entropy > 0:
            p = q - 1.0
            scale = self.config.relation_entropy * loss.detach() / self.num_relations
            loss = loss + scale * (p * torch.log(p.clamp_min(1e-12))).sum()
        return loss


def _detach_cold(cold: torch.Tensor, ht: torch.Tensor, htp, rel: Relations, tails: bool, relations: bool):
    """The tails and/or relations of the triples whose head had z_K dropped (cold [N]), with their
    gradient stopped (`ModelConfig.knowledge_dropout_detach`)."""
    if not bool(cold.any()):
        return ht, htp, rel
    if tails:
        c = cold.unsqueeze(1)
        ht = torch.stack([ht[0], torch.where(c, ht[1].detach(), ht[1])])
        if htp is not None:
            htp = torch.stack([htp[0], torch.where(c, htp[1].detach(), htp[1])])
    if not relations:
        return ht, htp, rel
    u = next(iter(rel.rows.values())).shape[0]  # a detached copy of each relation's rows after its own
    rows = {k: torch.cat([v, v.detach()]) for k, v in rel.rows.items()}
    return ht, htp, Relations(rows, rel.inv + u * cold.long())


# Keys of checkpoints written while `interaction` held the relation tables (before 2026-11-30).
_OLD_PREFIXES = (("interaction.entity_extra.", "entity_proj."), ("interaction.", "relations."))


def _rename_old_keys(state_dict, prefix, *args) -> None:
    """load_state_dict pre-hook: map the old keys onto `relations.*` and `entity_proj.*`."""
    for key in [k for k in state_dict if k.startswith(prefix + "interaction.")]:
        for old, new in _OLD_PREFIXES:
            if key.startswith(prefix + old):
                state_dict[prefix + new + key[len(prefix + old):]] = state_dict.pop(key)
                break


def build_model(
    config: ModelConfig,
    num_entities: int,
    num_relations: int,
    features: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> KGModel:
    """Build a KGModel. `features[m] = (FloatTensor[E, d_m], BoolTensor[E] present)` for each modality."""
    if num_entities < 2 or num_relations < 1:
        raise InvalidData(f"need at least 2 entities and 1 relation, got {num_entities} and {num_relations}")
    return KGModel(config, num_entities, num_relations, features)
