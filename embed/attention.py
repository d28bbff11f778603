"""The attention energies of TransFusion's dual attention (eq. 4 and eq. 5).

Both attentions score a vector x with a one-hidden-layer MLP, `a^T tanh(x V)` (section 5.1:
d_hidden = 256, scalar output), then normalise with a softmax. No biases: the equations have none.
"""

from __future__ import annotations

import torch
from torch import nn


class Energy(nn.Module):
    """e(x) = a^T tanh(x V): `V` in R^{width x hidden}, `a` in R^{hidden}; x [..., width] -> [...]."""

    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.V = nn.Linear(width, hidden, bias=False)
        self.a = nn.Linear(hidden, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(torch.tanh(self.V(x))).squeeze(-1)


class RelationAttention(nn.Module):
    """Eq. 5: q_r = softmax_r(a_r^T tanh(r V_r)) + 1, so every q_r lies in [1, 2].

    The softmax runs over all relations, so each step reads every relation vector. The vectors are
    detached here: q is learnt through V_r and a_r only, which keeps relation-table updates to the
    relations a batch used and stops relation vectors from bending to game their own weight.
    """

    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.energy = Energy(width, hidden)

    def forward(self, relations: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.energy(relations.detach()), dim=0) + 1.0
