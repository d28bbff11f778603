"""Fold a new video's existing triples into its knowledge segment z_K, everything else frozen.

A video that arrived after training starts with z_K = 0 (the cold-start rule). When it already has
triples, a few Adam steps on its z_K rows alone minimise eq. 6's margin loss over those triples
against negatives drawn from each relation's range in training (the side-constrained negatives of
the `fast` preset); W_M, b_M, V, a, the tag and relation rows do not move. The rows keep the
knowledge rows' norm constraint (Algorithm 1 line 7, "max1"). Steps and learning rate were chosen on
validation of three generators (`bench/fold_in.py`, docs/method.md "Cold start").
"""

from __future__ import annotations

import torch

from .model import KGModel

STEPS = 10
LR = 0.05


def range_sampler(train: torch.Tensor, num_relations: int, generator: torch.Generator):
    """sample(r [n], k) -> tails [n, k] drawn uniformly from the tails seen with each r in `train`."""
    pairs = torch.unique(train[:, [1, 2]], dim=0)  # sorted by relation
    counts = torch.bincount(pairs[:, 0], minlength=num_relations)
    offsets = torch.cumsum(counts, 0) - counts

    def sample(r: torch.Tensor, k: int) -> torch.Tensor:
        u = torch.rand(len(r), k, generator=generator)
        return pairs[offsets[r].unsqueeze(1) + (u * counts[r].unsqueeze(1)).long(), 1]

    return sample, counts


def fold_in_(model: KGModel, triples: torch.Tensor, train: torch.Tensor, steps: int = STEPS, lr: float = LR,
             negatives: int = 16, seed: int = 0) -> int:
    """Fit z_K of the fused heads of `triples` (video, r, tag ids) in place; returns how many videos.

    `train` gives each relation's range for the negatives; triples whose relation has none are left out.
    """
    ent = model.entities
    if not (ent.knowledge and ent.num_fused) or len(triples) == 0:
        return 0
    g = torch.Generator().manual_seed(seed)
    sample, counts = range_sampler(train, model.num_relations, g)
    triples = triples[ent.fused[triples[:, 0]] & (counts[triples[:, 1]] > 0)]
    videos = torch.unique(triples[:, 0])
    if len(videos) == 0:
        return 0
    local = ent.local[videos]
    w = ent.z_k.weight
    was_training = model.training
    model.eval()
    ent.known[local] = True
    z = torch.zeros(len(local), w.shape[1], requires_grad=True)  # start from the cold-start rule
    opt = torch.optim.Adam([z], lr=lr)
    h, r, t = triples.unbind(1)
    try:
        for _ in range(steps):
            with torch.no_grad():
                w[local] = z.detach()
            w.requires_grad_(True)  # the table only for this gradient: RowAdam never sees it
            neg = sample(r, negatives)
            d_pos = -model.score_triples(h, r, t)
            d_neg = -model.score_triples(h.repeat_interleave(negatives), r.repeat_interleave(negatives),
                                         neg.reshape(-1)).view(-1, negatives)
            loss = torch.relu(model.config.margin + d_pos.unsqueeze(1) - d_neg).mean()
            (grad,) = torch.autograd.grad(loss, w)
            w.requires_grad_(False)
            opt.zero_grad()
            z.grad = grad[local]
            opt.step()
            with torch.no_grad():
                z /= z.norm(dim=1, keepdim=True).clamp_min(1.0)
    finally:
        w.requires_grad_(False)
        with torch.no_grad():
            w[local] = z.detach()
        model.train(was_training)
    return len(videos)
