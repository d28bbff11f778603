"""Row-sparse parameter tables and the row-wise Adam that updates them.

Entity and relation tables are large, and a batch touches only a few of their rows. A `RowTable`
hands out the rows a batch asks for as a small leaf tensor (one gather per step, for the unique ids
the batch uses); after `backward()`, `RowAdam` updates exactly those rows (lazy Adam, like
`torch.optim.SparseAdam`: rows a batch did not use keep their values and their moments). Small
dense parameters (projection W, b, attention V, a, ...) go to `torch.optim.Adam`. `Optimizer`
wraps both behind the usual `zero_grad()` / `step()` / `state_dict()`.

Measured against `nn.Embedding(sparse=True)` + `SparseAdam`, gathering the unique rows once and
updating them in place avoids building and coalescing sparse gradient tensors (see docs/method.md).
"""

from __future__ import annotations

import math

import torch
from torch import nn

# torch.optim.Adam(fused=True)'s kernel; a private op, so fall back to plain ops where it is missing
_FUSED_ADAM = getattr(torch, "_fused_adam_", None)


class RowTable(nn.Module):
    """A `[n, *shape]` table whose rows are trained by `RowAdam`, never by autograd on the whole table.

    `rows(idx)` returns `weight[idx]`; in training mode with gradients enabled, the returned tensor
    is a leaf that `RowAdam` reads after `backward()` (call `Optimizer.zero_grad()` before the forward). Pass unique ids (the caller indexes the result with the
    inverse map); repeated calls in one step are allowed and coalesced.
    """

    def __init__(self, num: int, *shape: int, init: torch.Tensor | None = None):
        super().__init__()
        data = torch.empty(num, *shape) if init is None else init.detach().clone()
        # requires_grad=False: the table is updated row-wise by RowAdam, not by autograd.
        self.weight = nn.Parameter(data, requires_grad=False)
        # (ids, leaf rows, weight._version right after the gather): the version tells RowAdam whether
        # the leaf still equals weight[ids], so it can write updated rows instead of adding deltas.
        self._taken: list[tuple[torch.Tensor, torch.Tensor, int]] = []

    @property
    def num(self) -> int:
        return self.weight.shape[0]

    def rows(self, idx: torch.Tensor, constrain: str | None = None) -> torch.Tensor:
        """weight[idx]; with constrain="unit" | "max1" the rows are renormalised first, in place
        (Algorithm 1 line 7), in the same gather."""
        out = self.weight.index_select(0, idx)
        if constrain is not None:
            with torch.no_grad():
                renorm_(out, constrain)
                self.weight.index_copy_(0, idx, out)
        if self.training and torch.is_grad_enabled():
            out.requires_grad_(True)
            self._taken.append((idx, out, self.weight._version))
        return out

    def all(self) -> torch.Tensor:
        """The whole table, for scoring (no gradient)."""
        return self.weight.detach()

    def taken(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(unique row ids, summed gradient) of the rows handed out since the last `release()`."""
        got = [(i, t.grad) for i, t, _ in self._taken if t.grad is not None]
        if not got:
            return None
        if len(got) == 1:
            return got[0]
        idx = torch.cat([i for i, _ in got])
        grad = torch.cat([g for _, g in got])
        uniq, inv = torch.unique(idx, return_inverse=True)
        summed = torch.zeros((uniq.shape[0], *grad.shape[1:]), dtype=grad.dtype, device=grad.device)
        summed.index_add_(0, inv, grad)
        return uniq, summed

    def current_rows(self) -> torch.Tensor | None:
        """The rows handed out, when one `rows()` call took them and `weight` has not changed since
        (so they equal weight[ids]); else None."""
        if len(self._taken) != 1:
            return None
        _, out, version = self._taken[0]
        return out.detach() if version == self.weight._version else None

    def release(self) -> None:
        self._taken.clear()

    def extra_repr(self) -> str:
        return f"{tuple(self.weight.shape)}"


class RowAdam:
    """Lazy Adam over the rows of `RowTable`s: only rows a step used move (Kingma & Ba, 2015)."""

    def __init__(self, tables: list[RowTable], lr: float, betas=(0.9, 0.999), eps: float = 1e-8, exchange=None):
        self.tables = tables
        # exchange(tables, taken per table) -> taken per table: merges the rows each process touched
        # (embed.distributed); None in one process, where nothing below changes.
        self.exchange = exchange
        self.lr, self.betas, self.eps = lr, betas, eps
        self.step_count = 0
        # First and second moments per table as [2, *weight.shape]: the rows a step gathers are
        # contiguous [n, ...] blocks, which the fused Adam kernel needs.
        self.moments = [torch.zeros(2, *t.weight.shape, device=t.weight.device) for t in tables]

    @torch.no_grad()
    def step(self) -> None:
        self.step_count += 1
        b1, b2 = self.betas
        # with an exchange, every table's rows are merged in one call (one round of collectives)
        merged = None if self.exchange is None else self.exchange(self.tables, [t.taken() for t in self.tables])
        for i, (table, mom) in enumerate(zip(self.tables, self.moments)):
            got = table.taken() if merged is None else merged[i]
            if got is None:
                continue
            idx, g = got
            g = g.to(mom.dtype).contiguous()
            m, v = mom[0].index_select(0, idx), mom[1].index_select(0, idx)
            # the rows handed out, when they still equal weight[idx] (after an exchange idx may differ)
            rows = table.current_rows() if self.exchange is None else None
            p = table.weight.index_select(0, idx) if rows is None else rows
            if _FUSED_ADAM is not None and p.dtype == m.dtype and p.device.type in ("cpu", "cuda"):
                # One fused pass over parameter, gradient and moments (torch.optim.Adam(fused=True)'s
                # kernel): same update as below, measured ~3x cheaper than the separate ops.
                steps = torch.full((), float(self.step_count), device=p.device)
                _FUSED_ADAM([p], [g], [m], [v], [], [steps], lr=self.lr, beta1=b1, beta2=b2,
                                   weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False)
            else:
                bc1 = 1 - b1**self.step_count
                bc2 = 1 - b2**self.step_count
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                p.addcdiv_(m, (v / bc2).sqrt_().add_(self.eps), value=-self.lr / bc1)
            mom[0].index_copy_(0, idx, m)
            mom[1].index_copy_(0, idx, v)
            table.weight.index_copy_(0, idx, p)

    def zero_grad(self) -> None:
        for t in self.tables:
            t.release()

    def state_dict(self) -> dict:
        return {"step": self.step_count, "moments": self.moments, "lr": self.lr, "layout": "mv-first"}

    def load_state_dict(self, state: dict) -> None:
        self.step_count = int(state["step"])
        self.lr = state.get("lr", self.lr)
        for dst, src in zip(self.moments, state["moments"]):
            # checkpoints written before the [2, n, ...] layout hold [n, 2, ...]
            dst.copy_(src if state.get("layout") == "mv-first" else src.transpose(0, 1))


class Optimizer:
    """Adam for a model: `RowAdam` on its `RowTable`s, `torch.optim.Adam` on its dense parameters."""

    def __init__(self, model: nn.Module, lr: float, dense_lr: float | None = None, weight_decay: float = 0.0,
                 exchange=None):
        """exchange: None (one process), or an object whose `step(tables, taken, dense params)` sums
        the row tables' and the dense parameters' gradients across processes before each update, in
        one round (embed.distributed.Exchange): it runs inside `RowAdam.step`, before either update."""
        tables = [m for m in model.modules() if isinstance(m, RowTable)]
        table_params = {id(t.weight) for t in tables}
        dense = [p for p in model.parameters() if p.requires_grad and id(p) not in table_params]
        self.rows = RowAdam(tables, lr=lr, exchange=None if exchange is None else
                            (lambda tables, taken: exchange.step(tables, taken, dense)))
        # fused=True: one kernel for all dense tensors (the per-tensor loop costs more than the
        # arithmetic for these small W, b, V, a); same algorithm, same state_dict layout.
        fused = bool(dense) and all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for p in dense)
        self.dense = torch.optim.Adam(dense, lr=dense_lr or lr, weight_decay=weight_decay, fused=fused) if dense else None

    def zero_grad(self) -> None:
        self.rows.zero_grad()
        if self.dense is not None:
            self.dense.zero_grad(set_to_none=True)

    def step(self) -> None:
        self.rows.step()  # with an exchange, this also replaced the dense gradients by the ranks' mean
        if self.dense is not None:
            self.dense.step()
        self.rows.zero_grad()

    def state_dict(self) -> dict:
        return {"rows": self.rows.state_dict(), "dense": None if self.dense is None else self.dense.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.rows.load_state_dict(state["rows"])
        if self.dense is not None and state["dense"] is not None:
            self.dense.load_state_dict(state["dense"])


def renorm_(rows: torch.Tensor, kind: str) -> torch.Tensor:
    """Rows to L2 norm 1 ("unit") or at most 1 ("max1"), in place."""
    norm = torch.linalg.vector_norm(rows, dim=-1, keepdim=True).clamp_min_(1e-12)
    scale = norm.reciprocal_() if kind == "unit" else norm.reciprocal_().clamp_max_(1.0)
    return rows.mul_(scale)


def unique_ids(ids: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(sorted unique ids, inverse) like torch.unique; by counting when the id range is small."""
    if size <= 32 * ids.numel() + 4096:
        seen = torch.zeros(size, dtype=torch.bool, device=ids.device)
        flat = ids.reshape(-1)
        seen.index_fill_(0, flat, True)
        uniq = seen.nonzero().squeeze(1)
        slot = torch.cumsum(seen, 0).sub_(1)
        return uniq, slot.index_select(0, flat).view(ids.shape)
    return torch.unique(ids, return_inverse=True)


def uniform_(t: torch.Tensor, bound: float) -> torch.Tensor:
    """Bordes et al.'s TransE init, U(-6/sqrt(d), 6/sqrt(d)) with d the row width."""
    return nn.init.uniform_(t, -bound, bound)


def transe_bound(width: int) -> float:
    return 6.0 / math.sqrt(width)
