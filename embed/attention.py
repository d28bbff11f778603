"""The attention energies of TransFusion's dual attention (eq. 4 and eq. 5).

Both attentions score a vector x with a one-hidden-layer MLP, `a^T tanh(x V)` (section 5.1:
d_hidden = 256, scalar output), then normalise with a softmax. No biases: the equations have none.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Energy(nn.Module):
    """e(x) = a^T tanh(x V): `V` in R^{width x hidden}, `a` in R^{hidden}; x [..., width] -> [...]."""

    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.V = nn.Linear(width, hidden, bias=False)
        self.a = nn.Linear(hidden, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        return _EnergyFn.apply(flat, self.V.weight, self.a.weight).view(x.shape[:-1])


class _EnergyFn(torch.autograd.Function):
    """a^T tanh(x V) with a hand-written backward: the same gradients as autograd's, with fewer
    passes over the [n, hidden] activations (tanh in place, no outer-product matmul for a)."""

    @staticmethod
    def forward(ctx, x, V, a):  # x [n, width], V [hidden, width], a [1, hidden]
        u = torch.tanh_(F.linear(x, V))
        ctx.save_for_backward(x, V, a, u)
        return u @ a[0]

    @staticmethod
    def backward(ctx, g):
        x, V, a, u = ctx.saved_tensors
        g = g.to(u.dtype)  # under autocast u may be bfloat16 while x, V, a are float32
        grad_a = (g @ u).unsqueeze(0).to(a.dtype)
        pre = u * u  # d e / d (x V) = (1 - u^2) * a, times the incoming g
        pre.sub_(1).mul_(a.to(u.dtype)).mul_(g.unsqueeze(1)).neg_()
        grad_x = (pre @ V.to(pre.dtype)).to(x.dtype) if ctx.needs_input_grad[0] else None
        return grad_x, (pre.T @ x.to(pre.dtype)).to(V.dtype), grad_a


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
