"""Carry a trained model's rows into a model of a grown graph (new videos, tags or relations).

The model of a grown graph is built as usual (fresh random rows, Algorithm 1 lines 1-2); then every
row whose entity or relation the trained model knows is copied over by id map, and every parameter
whose shape does not depend on the counts (W_M, b_M of eq. 1, V and a of eq. 4, eq. 5's relation
attention) is copied whole. Used by `kgtag infer --new` (videos that arrived after training) and by
`kgtag train --from` (a warm start), so that there is one way to carry rows.

Rows by kind: plain rows (tags, and videos without modalities) and the knowledge segments z_K of
fused videos are carried when the entity keeps its kind (an entity that turns from plain to fused,
or back, gets a fresh row); TransD's e_p and every relation table by id. A new fused video gets
z_K = 0 (`known` False, the cold-start rule of `EntityRepresentation.set_known_`): its fused vector
comes from its modalities alone (eq. 1-4 with the trained projections and attention).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kgtag.errors import InvalidConfig

from .model import KGModel


@dataclass
class Carried:
    entities: int  # rows carried over
    new_entities: int  # fresh rows (new entities, and entities whose kind changed)
    relations: int
    new_relations: int


@torch.no_grad()
def carry_rows(old: KGModel, new: KGModel, entity_map: torch.Tensor, relation_map: torch.Tensor) -> Carried:
    """Copy `old`'s trained rows into `new` in place; returns the counts.

    entity_map [E_new]: the old id of each new entity, -1 for none; relation_map [R_new] likewise.
    Both models must have the same config (variant, base, modalities, widths).
    """
    if old.config.to_dict() != new.config.to_dict():
        raise ValueError("carry_rows needs two models of the same config")
    if old.config.feature_dims is not None:
        # the PCA basis and mean come from the features at build time: new videos would move them
        raise InvalidConfig("a model with PCA-reduced features (feature_dims) cannot take new entities")
    device = new.entities.fused.device
    entity_map, relation_map = entity_map.to(device), relation_map.to(device)
    o, n = old.entities, new.entities
    has_old = entity_map >= 0
    src = entity_map.clamp_min(0)
    same_kind = has_old & (n.fused == o.fused.to(device)[src])
    fused_kept = same_kind & n.fused
    plain_kept = same_kind & ~n.fused
    o_local = o.local.to(device)
    _copy(n.plain.weight, n.local[plain_kept], o.plain.weight, o_local[src[plain_kept]])
    if n.knowledge and n.num_fused:
        _copy(n.z_k.weight, n.local[fused_kept], o.z_k.weight, o_local[src[fused_kept]])
        known = torch.zeros_like(n.known)  # new fused videos: z_K = 0 until a training triple says otherwise
        known[n.local[fused_kept]] = o.known.to(device)[o_local[src[fused_kept]]]
        n.known.copy_(known)
    if new.entity_proj is not None:
        _copy(new.entity_proj.weight, same_kind.nonzero().squeeze(1), old.entity_proj.weight, src[same_kind])
    rel_kept = (relation_map >= 0).nonzero().squeeze(1)
    old_tables = old.relations.tables()
    for name, table in new.relations.tables().items():
        _copy(table.weight, rel_kept, old_tables[name].weight, relation_map[rel_kept])
    # Everything else (W_M, b_M, V, a, relation attention) has the same shape in both models.
    rows = {"entities.plain.weight", "entities.z_k.weight", "entities.known", "entity_proj.weight"}
    rows |= {f"relations.{name}.weight" for name in old_tables}
    dense = {k: v for k, v in old.state_dict().items() if k not in rows}
    missing, unexpected = new.load_state_dict(dense, strict=False)
    assert not unexpected and set(missing) <= rows, (missing, unexpected)
    kept = int(same_kind.sum())
    return Carried(kept, new.num_entities - kept, len(rel_kept), new.num_relations - len(rel_kept))


def _copy(dst: torch.Tensor, dst_rows: torch.Tensor, src: torch.Tensor, src_rows: torch.Tensor) -> None:
    if dst_rows.numel():
        dst.index_copy_(0, dst_rows, src.index_select(0, src_rows.to(src.device)).to(dst.device))
