"""The parameters a translation base adds: relation representations, and TransD's entity projections.

Every base has a translation vector r per relation; TransH adds a hyperplane normal w_r (Wang et
al., 2014), TransR a matrix M_r (Lin et al., 2015), TransD a projection vector r_p (Ji et al.,
2015), and TransD also gives every entity a projection vector e_p. They are `RowTable`s, so a batch
updates only the rows it used (Algorithm 1 lines 11-12). The scorers that read them are stateless
(`interactions.py`).

Initialisation follows Bordes et al. (U(-6/sqrt(w), 6/sqrt(w)), then TransE normalises r once),
TransR's matrices start at the identity (OpenKE's practice) and TransD's projection vectors small
(Xavier bounds), so TransR and TransD start near TransE (docs/method.md, "Bases").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .rows import RowTable, transe_bound, uniform_
from .variants import BASES

# The relation tables of each base, in creation order (the order fixes the random draws at init,
# the optimiser's list of tables, hence checkpoints' moment order).
TABLES = {"transe": ("r",), "transh": ("r", "w"), "transr": ("r", "m"), "transd": ("r", "rp")}
assert tuple(TABLES) == BASES


class RelationRepresentation(nn.Module):
    """Relation parameters of one base: `r` for every base, plus `w` (TransH), `m` (TransR), `rp` (TransD)."""

    def __init__(self, base: str, num_relations: int, width: int):
        super().__init__()
        self.base = base
        for name in TABLES[base]:
            if name == "m":  # [R, width, width], identity: TransR starts as TransE
                eye = torch.eye(width).expand(num_relations, width, width).contiguous()
                setattr(self, name, RowTable(num_relations, width, width, init=eye))
            else:
                setattr(self, name, uniform_row_table(num_relations, width))
        if base == "transe":
            with torch.no_grad():  # Bordes et al. normalise relations once, at initialisation
                self.r.weight.copy_(F.normalize(self.r.weight, dim=-1))
        if base == "transd":
            # Redrawn small; its first draw above is kept so that seeded runs stay as they were.
            uniform_(self.rp.weight, (6.0 / (num_relations + width)) ** 0.5)

    def tables(self) -> dict[str, RowTable]:
        return {name: getattr(self, name) for name in TABLES[self.base]}

    def rows(self, ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """Parameters of unique relation ids (trainable leaves while training)."""
        return {name: t.rows(ids) for name, t in self.tables().items()}

    def all(self) -> dict[str, torch.Tensor]:
        return {name: t.all() for name, t in self.tables().items()}

    def translations(self) -> torch.Tensor:
        """Every relation's translation vector r [R, width]: what eq. 5's relation attention reads."""
        return self.r.all()


def uniform_row_table(num: int, width: int) -> RowTable:
    """A [num, width] table drawn from Bordes et al.'s U(-6/sqrt(width), 6/sqrt(width))."""
    table = RowTable(num, width)
    uniform_(table.weight, transe_bound(width))
    return table


def entity_projections(base: str, num_entities: int, width: int) -> RowTable | None:
    """TransD's per-entity projection vectors e_p (Ji et al., 2015), Xavier-small; None for other bases."""
    if base != "transd":
        return None
    table = RowTable(num_entities, width)
    uniform_(table.weight, (6.0 / (num_entities + width)) ** 0.5)
    return table
