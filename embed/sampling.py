"""Vectorised negative sampling for the margin loss (eq. 6, Algorithm 1 lines 9-10).

For each positive (h, r, t), k negatives replace the head or the tail:

- which side: "uniform" (probability 1/2), "bernoulli" (Wang et al., 2014: replace the head with
  probability tph / (tph + hpt), tph = mean tails per head of r, hpt = mean heads per tail), or
  "tail" (tails only: the side that tag inference `(video, r, ?)` ranks);
- the replacement: any other entity; or, side-constrained, an entity seen on that side of any triple
  (a tail is replaced by something that is a tail somewhere: in a video graph, a tag rather than one of
  the many videos); or, type-constrained, another entity seen in that position with r (falling back
  to the former where r has seen only one); never the entity it replaces.
  `type_constrained` is the share of corruptions drawn type-constrained (True = 1, False = 0): a mix
  teaches both the order inside a relation's range (what range-candidate ranking needs) and that
  other relations' tags do not fit (what ranking among all tags needs);
- optionally, corruptions that are known positives are redrawn (a few vectorised rounds, keys
  `(h * R + r) * E + t` in int64 looked up with `searchsorted`); the rare leftovers stay;
- optionally, known negatives (curator-rejected edges): a positive whose (h, r) has rejected tails
  gets, with probability `known_negative_rate`, its first negative replaced by one of them.

No per-row Python: every step works on whole batches. The sampler draws from its own
`torch.Generator`, whose state is part of `state_dict()` so a resumed run draws the same negatives.
"""

from __future__ import annotations

import torch

from kgtag.conventions import triple_key

STRATEGIES = ("uniform", "bernoulli", "tail")


def triple_keys(triples: torch.Tensor, num_entities: int, num_relations: int) -> torch.Tensor:
    """int64 key (h * R + r) * E + t per triple, for set membership by sorting."""
    if num_entities * num_entities * max(num_relations, 1) >= 2**63:
        raise ValueError(f"{num_entities} entities x {num_relations} relations overflow int64 triple keys")
    t = triples.long()
    return triple_key(t[:, 0], t[:, 1], t[:, 2], num_entities, num_relations)


def _isin_sorted(keys: torch.Tensor, sorted_keys: torch.Tensor) -> torch.Tensor:
    if sorted_keys.numel() == 0:
        return torch.zeros_like(keys, dtype=torch.bool)
    pos = torch.searchsorted(sorted_keys, keys).clamp_max_(sorted_keys.numel() - 1)
    return sorted_keys[pos] == keys


class _Pool:
    """Per relation, the sorted entities seen on one side (CSR): type-constrained candidates."""

    def __init__(self, rel: torch.Tensor, ent: torch.Tensor, num_entities: int, num_relations: int):
        keys = torch.unique(rel * num_entities + ent)  # sorted, unique (r, e) pairs
        self.keys = keys
        self.ent = keys % num_entities
        counts = torch.bincount(keys // num_entities, minlength=num_relations)
        self.count = counts
        self.start = torch.cumsum(counts, 0) - counts
        self.num_entities = num_entities

    def draw(self, r: torch.Tensor, orig: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Another entity seen with r on this side, uniform over the pool without `orig`.

        u: uniform [0, 1) draws, one per row. Rows whose pool lacks an alternative get -1.
        """
        count = self.count[r]
        # Position of orig in r's pool, if there (then skip over it).
        key = r * self.num_entities + orig
        pos = torch.searchsorted(self.keys, key).clamp_max_(max(self.keys.numel() - 1, 0))
        inside = self.keys[pos] == key
        avail = count - inside.long()
        j = (u * avail).long().clamp_max_((avail - 1).clamp_min(0))
        j = j + (inside & (self.start[r] + j >= pos)).long()
        out = self.ent[(self.start[r] + j).clamp_max_(self.ent.numel() - 1)]
        return torch.where(avail > 0, out, torch.full_like(out, -1))


class NegativeSampler:
    """Draws `num_negatives` corruptions per positive; `sample(pos [B, 3]) -> neg [B, k, 3]`."""

    def __init__(
        self,
        triples: torch.Tensor,
        num_entities: int,
        num_relations: int,
        num_negatives: int = 1,
        strategy: str = "uniform",
        type_constrained: float = 0.0,
        filter_known: bool = False,
        known_negatives: torch.Tensor | None = None,
        known_negative_rate: float = 0.5,
        filter_rounds: int = 3,
        side_constrained: bool = False,
        seed: int = 0,
        device: torch.device | str = "cpu",
        head_triples: torch.Tensor | None = None,
        entities: torch.Tensor | None = None,
        tail_triples: torch.Tensor | None = None,
        head_prob: torch.Tensor | None = None,
    ):
        """head_triples: the triples whose heads may replace a head (default: `triples`); entities:
        the ids any "other entity" draw takes from (default: all). One process of a distributed run
        (embed.distributed) passes its partition and the entities it may touch, so that head
        corruptions stay among its own videos while tail statistics come from the whole graph.
        tail_triples (only their (r, t) columns are read) and head_prob (the Bernoulli odds per
        relation) replace what `triples` would give, for a process that holds only its own shard of
        the triples: `triples` then serves the known-positive filter alone."""
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown negative sampling strategy {strategy!r}; choose one of {STRATEGIES}")
        if num_negatives < 1:
            raise ValueError("num_negatives must be at least 1")
        device = torch.device(device)
        triples = triples.long().to(device)
        self.E, self.R, self.k = num_entities, num_relations, num_negatives
        self.type_constrained = float(type_constrained)
        if not 0.0 <= self.type_constrained <= 1.0:
            raise ValueError(f"type_constrained must be a share in [0, 1], got {type_constrained}")
        self.strategy, self.filter_known = strategy, filter_known
        self.filter_rounds = filter_rounds
        self.known_negative_rate = known_negative_rate
        self.device = device
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(seed)

        tails = triples if tail_triples is None else tail_triples.long().to(device)
        r, t = tails[:, 1], tails[:, 2]
        heads = triples if head_triples is None else head_triples.long().to(device)
        self.pool = None if entities is None else torch.unique(entities.long().to(device))
        # entities seen as heads / as tails of any relation (the "side" pools)
        self.side_constrained = side_constrained
        if side_constrained:
            self.tail_side = torch.unique(t)
            self.head_side = torch.unique(heads[:, 0])
        self.head_prob = None
        if strategy == "bernoulli":
            self.head_prob = self.bernoulli_head_prob(triples, num_relations) if head_prob is None else head_prob.to(device)
        if self.type_constrained > 0:
            self.tail_pool = _Pool(r, t, num_entities, num_relations)
            self.head_pool = _Pool(heads[:, 1], heads[:, 0], num_entities, num_relations)
        self.known = torch.sort(triple_keys(triples, num_entities, num_relations)).values if filter_known else None
        self.neg_keys = self.neg_tails = None
        if known_negatives is not None and len(known_negatives):
            kn = known_negatives.long().to(device)
            hr = kn[:, 0] * num_relations + kn[:, 1]
            order = torch.argsort(hr)
            self.neg_keys, self.neg_tails = hr[order], kn[order, 2]

    @staticmethod
    def bernoulli_head_prob(triples: torch.Tensor, num_relations: int) -> torch.Tensor:
        """P(replace head | r) = tph / (tph + hpt) per relation (Wang et al., 2014)."""
        h, r, t = triples[:, 0].long(), triples[:, 1].long(), triples[:, 2].long()
        n = torch.bincount(r, minlength=num_relations).double()
        heads = torch.bincount(torch.unique(r * (h.max() + 1) + h) // (h.max() + 1), minlength=num_relations)
        tails = torch.bincount(torch.unique(r * (t.max() + 1) + t) // (t.max() + 1), minlength=num_relations)
        tph = n / heads.clamp_min(1)
        hpt = n / tails.clamp_min(1)
        prob = tph / (tph + hpt).clamp_min(1e-12)
        return torch.where(n > 0, prob, torch.full_like(prob, 0.5)).float()

    def _rand(self, *shape) -> torch.Tensor:
        return torch.rand(*shape, generator=self.generator, device=self.device)

    def _other_entity(self, orig: torch.Tensor) -> torch.Tensor:
        """Uniform over all entities but orig (over `entities` but orig when the sampler was given them)."""
        if self.pool is not None:
            return self._other_in(self.pool, orig, fallback=False)
        x = torch.randint(0, self.E - 1, orig.shape, generator=self.generator, device=self.device)
        return x + (x >= orig).long()

    def _other_in(self, pool: torch.Tensor, orig: torch.Tensor, fallback: bool = True) -> torch.Tensor:
        """Uniform over the sorted id pool but orig (any entity but orig if the pool has nothing else;
        orig itself without `fallback`)."""
        pos = torch.searchsorted(pool, orig).clamp_max_(len(pool) - 1)
        inside = (pool[pos] == orig).long()
        avail = len(pool) - inside  # per row: how many other entities the pool offers
        u = self._rand(orig.shape[0])
        j = (u * avail).long().clamp_max_((avail - 1).clamp_min(0))
        j = j + (inside.bool() & (j >= pos)).long()  # skip over orig's own slot
        out = pool[j.clamp_max_(len(pool) - 1)]
        return torch.where(avail > 0, out, self._other_entity(orig) if fallback else orig)

    def _corrupt(self, neg: torch.Tensor, head: torch.Tensor) -> None:
        """Fill neg[:, 0] (where head) or neg[:, 2] (elsewhere) with a replacement, in place."""
        r = neg[:, 1]
        orig = torch.where(head, neg[:, 0], neg[:, 2])
        new = self._other_entity(orig)
        if self.side_constrained:
            new = torch.where(head, self._other_in(self.head_side, orig), self._other_in(self.tail_side, orig))
        if self.type_constrained > 0:
            u = self._rand(orig.shape[0])
            typed = torch.where(head, self.head_pool.draw(r, orig, u), self.tail_pool.draw(r, orig, u))
            if self.type_constrained < 1:
                typed = torch.where(self._rand(orig.shape[0]) < self.type_constrained, typed, -1)
            new = torch.where(typed >= 0, typed, new)
        neg[:, 0] = torch.where(head, new, neg[:, 0])
        neg[:, 2] = torch.where(head, neg[:, 2], new)

    def sample(self, pos: torch.Tensor) -> torch.Tensor:
        """Negatives [B, k, 3] for positives pos [B, 3] (ids on the sampler's device)."""
        b = pos.shape[0]
        neg = pos.long().unsqueeze(1).expand(b, self.k, 3).reshape(-1, 3).clone()
        if self.strategy == "tail":
            p_head = 0.0
        else:
            p_head = 0.5 if self.head_prob is None else self.head_prob[neg[:, 1]]
        head = self._rand(neg.shape[0]) < p_head
        self._corrupt(neg, head)
        if self.known is not None:
            for _ in range(self.filter_rounds):
                hit = _isin_sorted(triple_keys(neg, self.E, self.R), self.known).nonzero().squeeze(1)
                if hit.numel() == 0:
                    break
                redo = pos.long()[hit // self.k].clone()
                self._corrupt(redo, head[hit])
                neg[hit] = redo
        neg = neg.view(b, self.k, 3)
        if self.neg_keys is not None:
            self._mix_known_negatives(pos.long(), neg)
        return neg

    def _mix_known_negatives(self, pos: torch.Tensor, neg: torch.Tensor) -> None:
        hr = pos[:, 0] * self.R + pos[:, 1]
        lo = torch.searchsorted(self.neg_keys, hr)
        hi = torch.searchsorted(self.neg_keys, hr, right=True)
        n = hi - lo
        u, coin = self._rand(pos.shape[0]), self._rand(pos.shape[0])
        use = (n > 0) & (coin < self.known_negative_rate)
        j = (lo + (u * n).long().clamp_max_((n - 1).clamp_min(0))).clamp_max_(self.neg_tails.numel() - 1)
        neg[:, 0, 0] = torch.where(use, pos[:, 0], neg[:, 0, 0])
        neg[:, 0, 2] = torch.where(use, self.neg_tails[j], neg[:, 0, 2])

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"].cpu())
