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
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .attention import RelationAttention
from .fusion import EntityRepresentation
from .interactions import Entities, Relations, make_interaction
from .relations import RelationRepresentation, entity_projections
from .rows import unique_ids
from .variants import BASES, VARIANT_SPECS, VARIANTS, check_modalities, fusion_mode

__all__ = ["BASES", "VARIANTS", "KGModel", "ModelConfig", "build_model"]


@dataclass
class ModelConfig:
    """Model hyper-parameters. Defaults follow section 5.1 (d_K = 64, d_hidden = 256).

    `relation_attention=None` takes the variant's default (table in the module docstring).
    `margin` is gamma of eq. 6; `p_norm` the distance of eq. 6 (1 = L1, 2 = L2).
    """

    variant: str = "transfusion"
    base: str = "transe"
    modalities: tuple[str, ...] = field(default_factory=tuple)
    dim: int = 64
    hidden: int = 256
    p_norm: int = 1
    margin: float = 1.0
    relation_attention: bool | None = None
    feature_dims: int | None = None  # PCA-reduce each frozen feature matrix to at most this many dims
    # Temperature of an entropy bonus on eq. 5's softmax (0 = eq. 6 as printed, whose minimum puts all
    # the weight on the relation with the smallest loss; see docs/method.md "Relation attention").
    relation_entropy: float = 0.5
    # Self-adversarial weighting of each positive's k negatives (Sun et al., RotatE, ICLR 2019):
    # softmax(alpha * -d_neg) instead of 1/k, not differentiated. 0 = eq. 6 as printed.
    adversarial_temperature: float = 0.0
    # Each projected segment z_M takes the base's entity constraint (TransE: unit norm), in the
    # forward pass, so that eq. 4 weighs segments of one scale (docs/method.md "Segment scale").
    segment_norm: bool = True
    # Eq. 3's weights times the number of segments present: uniform attention leaves each segment
    # at its own scale instead of shrinking all of them, the knowledge segment included.
    segment_scale: bool = True
    # The whole fused vector h_vid takes the base's entity constraint (TransE: unit norm, as every
    # tag row), so videos and tags live on one sphere and relations can separate their ranges.
    fused_norm: bool = False
    # "margin": eq. 6's hinge; "softplus": log(1 + exp(d_pos - gamma)) + log(1 + exp(gamma - d_neg)),
    # the logistic form of Sun et al. (RotatE, ICLR 2019) with gamma = margin (beyond the paper).
    loss: str = "margin"
    # Knowledge-segment dropout (DropoutNet): while training, each fused video a batch uses has its
    # z_K zeroed with this probability, as a cold video's is, so that the modalities alone learn to
    # place it (docs/method.md "Cold start as a protocol"). 0 = off (eq. 1-4 as printed).
    knowledge_dropout: float = 0.0
    # Relation-conditioned modality attention (beyond eq. 3-4): a learned logit per (relation,
    # segment) added to eq. 4's energies, so a relation can lean on the modality it needs. The
    # query video's vector becomes h_{vid, r} in tail prediction and in training; everything that
    # needs one vector per video (fold-in, carry, the vector index, head-side scoring) keeps eq. 4's.
    relation_modality: bool = False

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; choose one of {', '.join(VARIANTS)}")
        if self.base not in BASES:
            raise ValueError(f"unknown base {self.base!r}; choose one of {', '.join(BASES)}")
        if isinstance(self.modalities, str):
            self.modalities = tuple(m for m in self.modalities.split(",") if m)
        self.modalities = tuple(self.modalities)
        check_modalities(self.modalities)
        spec = VARIANT_SPECS[self.variant]
        if spec.modalities == "none" and self.modalities:
            raise ValueError(f"variant {self.variant!r} uses no modalities, got {self.modalities}")
        if spec.modalities == "required" and not self.modalities:
            raise ValueError(f"variant {self.variant!r} needs at least one modality")
        if self.p_norm not in (1, 2):
            raise ValueError(f"p_norm must be 1 or 2, got {self.p_norm}")
        if self.dim < 1 or self.hidden < 1:
            raise ValueError("dim and hidden must be positive")
        if self.adversarial_temperature < 0:
            raise ValueError(f"adversarial_temperature must be >= 0, got {self.adversarial_temperature}")
        if self.loss not in ("margin", "softplus"):
            raise ValueError(f"loss must be 'margin' or 'softplus', got {self.loss!r}")
        if self.relation_entropy < 0:
            raise ValueError(f"relation_entropy must be >= 0, got {self.relation_entropy}")
        if not 0.0 <= self.knowledge_dropout < 1.0:
            raise ValueError(f"knowledge_dropout must be in [0, 1), got {self.knowledge_dropout}")
        if self.feature_dims is not None and self.feature_dims < 1:
            raise ValueError(f"feature_dims must be positive or None, got {self.feature_dims}")
        if self.relation_attention is None:
            self.relation_attention = spec.relation_attention

    @property
    def width(self) -> int:
        """Width of entity and relation vectors (see the module docstring)."""
        if fusion_mode(self.variant, self.modalities) in ("plain", "sum"):
            return self.dim
        return self.dim * (len(self.modalities) + VARIANT_SPECS[self.variant].knowledge)

    def to_dict(self) -> dict:
        return asdict(self)


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
        )
        width = self.entities.width
        assert width == config.width
        # Created in this order (entities, relations, entity_proj, attention): it fixes the random
        # draws at init and the optimiser's table order, so seeded runs and checkpoints stay as before.
        self.relations = RelationRepresentation(config.base, num_relations, width)
        self.entity_proj = entity_projections(config.base, num_entities, width)
        self.rel_attention = RelationAttention(width, config.hidden) if config.relation_attention else None
        self._cache: Entities | None = None
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

    def _represent_unique(self, uniq: torch.Tensor, constrain: bool = False) -> Entities:
        if self._cache is not None and not torch.is_grad_enabled():
            e, ep = self._cache
            return Entities(e[uniq], None if ep is None else ep[uniq])
        kind = self.interaction.entity_constraint if constrain else None
        return Entities(self.entities(uniq, kind), None if self.entity_proj is None else self.entity_proj.rows(uniq))

    def represent(self, ids: torch.Tensor) -> Entities:
        """(vectors [n, width], TransD's projection vectors [n, width] or None) for entity ids, duplicates allowed."""
        uniq, inv = torch.unique(ids, return_inverse=True)
        e, ep = self._represent_unique(uniq)
        return Entities(e[inv], None if ep is None else ep[inv])

    def _all_entities(self) -> Entities:
        if self._cache is not None:
            return self._cache
        return Entities(self.entities.all(), None if self.entity_proj is None else self.entity_proj.all())

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
        d = self.interaction.pair_distance(Entities(ht, htp), self._relations(trip[:, 1]))
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
        raise ValueError(f"need at least 2 entities and 1 relation, got {num_entities} and {num_relations}")
    return KGModel(config, num_entities, num_relations, features)
